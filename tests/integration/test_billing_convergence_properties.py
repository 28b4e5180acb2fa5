"""Issue 18's property: whatever order, repetition or concurrency Stripe delivers a payment's
events in, the payment ends in the state computed from what happened alone (scenarios.py).

- memory: many examples, each event signed and delivered through `receive_webhook` in a shuffled
  order with repeats, handled at once (the inline queue).
- MariaDB: fewer examples, with real concurrency: four threads post the signed events (signed with
  the stripe package's own `WebhookSignature`) to the app served over HTTP on 127.0.0.1, each
  thread its share of a shuffled, repeated delivery order, all released together.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import stripe as stripe_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from adapters.stripe import events as ev
from domain.billing.model import EventStatus
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from tests.fixtures.concurrency import run_together
from tests.fixtures.containers import new_user, urls
from tests.fixtures.stripe import WEBHOOK_SECRET, Stripe
from tests.fixtures.stripe_stories import Story, deliveries, events_for, stories

FREE = 100


def check_end_state(container: Container, user_id: str, payment_id: str, story: Story) -> None:
    payment = container.billing.payment(payment_id)
    expected = story.expected_credits()
    assert (container.ledger.balance(user_id).balance, payment.credits_held, payment.shortfall) == (
        FREE + expected,
        expected,
        0,
    ), story
    assert payment.status.value == story.expected_status(), story
    assert container.ledger.check_invariants(user_id) == []
    with container.uow() as uow:
        attached = uow.billing.events_of(payment_id)
    assert {e.status for e in attached} <= {EventStatus.PROCESSED}, story


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_delivery_order_with_repeats_ends_in_the_state_of_the_event_set(
    build: Callable[..., Container], clock: ManualClock, data: st.DataObject
) -> None:
    container = build()  # a fresh store per example: the memory store copies itself per unit of work
    stripe = Stripe(container.billing, clock)
    story = data.draw(stories(), label="story")
    user_id = new_user(container)
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    events = events_for(story, stripe.facts(started.session_id), ev.unix(clock.now()))
    for index in data.draw(deliveries(len(events)), label="order"):
        stripe.deliver(events[index])
    check_end_state(container, user_id, started.payment_id, story)


# --- MariaDB, over HTTP, with threads ----------------------------------------------------------
@pytest.fixture
def served(container: Container) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, create_app(container), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_port)
    server.shutdown()
    thread.join(10)


def post_signed(port: int, event: dict[str, Any]) -> int:
    payload = ev.encode(event)
    header = stripe_sdk.WebhookSignature.generate_signature_header(payload.decode("utf-8"), WEBHOOK_SECRET)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/v1/webhooks/stripe",
            body=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


THREADS = 4


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_concurrent_signed_deliveries_over_http_end_in_the_state_of_the_event_set(
    container: Container, stripe: Stripe, clock: ManualClock, served: int, data: st.DataObject
) -> None:
    story = data.draw(stories().filter(lambda s: s.paid), label="story")
    user_id = new_user(container)
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    events = events_for(story, stripe.facts(started.session_id), ev.unix(clock.now()))
    order = data.draw(deliveries(len(events)), label="order")
    shares = [order[i::THREADS] for i in range(THREADS)]

    def run(share: list[int]) -> list[int]:
        return [post_signed(served, events[index]) for index in share]

    answered, _ = run_together([partial(run, share) for share in shares])
    statuses = [status for part in answered for status in part]
    assert statuses == [200] * len(order)
    check_end_state(container, user_id, started.payment_id, story)
