"""Concurrent deliveries on MariaDB, with threads: Stripe retries a webhook while the first
delivery is still being handled, and several refunds of one charge can land at once."""

from __future__ import annotations

import pytest

from adapters.stripe import events as ev
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.containers import new_user, urls
from tests.fixtures.stripe import Stripe

pytestmark = pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
THREADS = 16


def test_sixteen_concurrent_deliveries_of_one_event_grant_once(container: Container, stripe: Stripe) -> None:
    billing = container.billing
    user_id = new_user(container)
    started = billing.checkout(user_id, pack_id="pack_500", **urls())
    event = ev.checkout_completed(stripe.facts(started.session_id), now=stripe.now())
    payload, header = stripe.signed(event)
    _, errors = run_together([lambda: billing.receive_webhook(payload, header)] * THREADS, timeout=60)
    assert errors == []
    assert container.ledger.balance(user_id).balance == 100 + 500
    purchases = container.ledger.transactions(user_id, kind="purchase").items
    assert [e.amount for e in purchases] == [500]
    stored = billing.event(event["id"])
    assert stored is not None and stored.status.value == "processed" and stored.attempts == 1


def test_concurrent_partial_refunds_of_one_charge_reverse_the_total_once(container: Container, stripe: Stripe) -> None:
    billing = container.billing
    user_id = new_user(container)
    started = billing.checkout(user_id, pack_id="pack_500", **urls())  # 500 credits for 2000 cents
    stripe.outcome(started.session_id)
    facts = stripe.facts(started.session_id)
    assert facts.payment_intent is not None
    refunds = [
        ev.charge_refunded(
            payment_intent=facts.payment_intent,
            amount_cents=2000,
            currency="usd",
            amount_refunded=400 * n,
            previously_refunded=400 * (n - 1),
            now=stripe.now() + n,
        )
        for n in range(1, 6)
    ]
    signed = [stripe.signed(event) for event in refunds] * 3  # each delivered three times
    _, errors = run_together([lambda p=p, h=h: billing.receive_webhook(p, h) for p, h in signed], timeout=60)
    assert errors == []
    assert container.ledger.balance(user_id).balance == 100
    payment = billing.payment(billing.checkout_details(started.session_id).payment_id)  # type: ignore[union-attr]
    assert (payment.status.value, payment.refunded_cents, payment.credits_reversed, payment.shortfall) == (
        "refunded",
        2000,
        500,
        0,
    )
    assert sum(-e.amount for e in container.ledger.transactions(user_id, kind="reversal").items) == 500
