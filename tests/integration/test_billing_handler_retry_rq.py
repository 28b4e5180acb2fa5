"""A failing webhook handler is retried through the real job queue (RQ on Redis, a burst worker
with RQ's scheduler) with backoff, until it succeeds; storage is SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import SimpleWorker

from adapters.queue.rq_queue import RqJobQueue
from adapters.stripe import events as ev
from adapters.stripe.fake import FakePaymentGateway
from domain.billing.model import EventStatus
from domain.billing.services import BillingConfig
from domain.shared.clock import ManualClock
from domain.shared.jobs import RetryPolicy
from entrypoints.bootstrap import JOB_FUNCTION
from tests.fixtures.containers import container_builder, new_user, urls
from tests.fixtures.rq import worker_uses
from tests.fixtures.settings import make_settings, unique
from tests.fixtures.stripe import WEBHOOK_SECRET, Stripe

pytestmark = pytest.mark.redis


class BurstWorker(SimpleWorker):
    def subscribe(self) -> None:  # no pub/sub listener: it takes a second to stop after each burst
        pass


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def test_a_failing_handler_is_retried_by_the_queue_with_backoff_until_it_succeeds(
    redis: Redis, tmp_path: Path, request: pytest.FixtureRequest, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_name = unique("billing")  # a queue of its own: no flush of a Redis db others may share
    queue = RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=queue_name)
    container = container_builder("sqlite", tmp_path, request)(
        settings=make_settings(stripe_webhook_secret=WEBHOOK_SECRET),
        clock=clock,
        queue=queue,
        gateway=FakePaymentGateway(),
    )
    container.billing.config = BillingConfig(handler_retry=RetryPolicy(max_retries=5, intervals=(1,)))
    worker_uses(monkeypatch, container)
    stripe = Stripe(container.billing, clock)
    user_id = new_user(container)
    started = container.billing.checkout(user_id, plan_id="pro", **urls())
    facts = stripe.facts(started.session_id)
    start = clock.now()
    renewal = ev.invoice_event(
        "invoice.paid",
        facts,
        now=stripe.now(),
        number=2,
        period_start=ev.unix(start),
        period_end=ev.unix(ev.add_month(start)),
        billing_reason="subscription_cycle",
    )

    def burst() -> None:
        BurstWorker([queue_name], connection=redis).work(burst=True, with_scheduler=True, logging_level="WARNING")

    stripe.deliver(renewal)  # its subscription is unknown yet: the handler fails
    burst()
    failed = container.billing.event(renewal["id"])
    assert failed is not None and failed.status is EventStatus.FAILED and failed.attempts == 1
    assert container.ledger.balance(user_id).balance == 100
    for event in ev.checkout_outcome(facts, "paid", clock.now()):  # now we learn the subscription
        stripe.deliver(event)
    deadline = time.monotonic() + 20
    while (stored := container.billing.event(renewal["id"])) is not None and stored.status is not EventStatus.PROCESSED:
        assert time.monotonic() < deadline, "the queue never retried the failed handler"
        burst()
        time.sleep(0.2)
    assert stored is not None and stored.attempts >= 2 and stored.last_error is None
    assert container.ledger.balance(user_id).balance == 100 + 2000 + 2000
