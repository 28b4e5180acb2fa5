"""The recorded Stripe samples (copied from ../shared/fixtures/stripe, API 2026-07-29.dahlia), as they are
apart from the ids that tie them to our own checkout, signed and delivered: the handlers read
the shapes Stripe really sends (and ignore the samples' `credits` metadata)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from entrypoints.bootstrap import Container
from tests.fixtures.containers import new_user, urls
from tests.fixtures.settings import make_settings
from tests.fixtures.stripe import WEBHOOK_SECRET, Stripe

FIXTURES = (
    Path(__file__).resolve().parents[1] / "fixtures" / "stripe_recorded"
)  # a copy of the shared samples, unchanged
PRO_PRICE = "price_1Io6dWB7WZ01zgkWhO6e88Pc"
ENTERPRISE_PRICE = "price_1BzIRQB7WZ01zgkWFkHT4LXd"
BACKENDS = pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)


def sample(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


@pytest.fixture
def priced(build) -> Container:  # type: ignore[no-untyped-def]
    return build(
        settings=make_settings(
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_price_ids=(("pro", PRO_PRICE), ("enterprise", ENTERPRISE_PRICE)),
        )
    )


@BACKENDS
def test_the_recorded_pack_checkout_and_partial_refund(priced: Container, clock) -> None:  # type: ignore[no-untyped-def]
    stripe = Stripe(priced.billing, clock)
    user_id = new_user(priced)
    started = priced.billing.checkout(user_id, pack_id="pack_500", **urls())  # 500 credits, 2000 cents
    completed = sample("02_checkout.session.completed.pack.json")  # its metadata says credits "500", pack "starter"
    # The sample sold something for 1000 cents; our pack costs 2000, and a payment below the price
    # sold grants nothing (issue 18): the recording's amounts are raised to the pack's price.
    completed["data"]["object"].update(id=started.session_id, client_reference_id=user_id, amount_total=2000)
    stripe.deliver(completed)
    assert priced.ledger.balance(user_id).balance == 100 + 500
    refunded = sample("09_charge.refunded.partial.json")  # 400 cents refunded, found by payment_intent
    refunded["data"]["object"].update(amount=2000, amount_captured=2000)
    stripe.deliver(refunded)
    payment = priced.billing.payment(started.payment_id)
    assert (payment.refunded_cents, payment.credits_reversed, payment.status.value) == (400, 100, "partially_refunded")
    assert priced.ledger.balance(user_id).balance == 100 + 400


@BACKENDS
def test_the_recorded_subscription_checkout_plan_change_and_renewal(priced: Container, clock) -> None:  # type: ignore[no-untyped-def]
    stripe = Stripe(priced.billing, clock)
    user_id = new_user(priced)
    started = priced.billing.checkout(user_id, plan_id="pro", **urls())
    # The fake provider named the customer at checkout (as Stripe does when given one): the
    # recording's customer is renamed to it, as its session id is to ours.
    customer = priced.billing.payment(started.payment_id).customer_id
    completed = sample("05_checkout.session.completed.subscription.json")
    completed["data"]["object"].update(id=started.session_id, client_reference_id=user_id, customer=customer)
    stripe.deliver(completed)
    assert priced.billing.payment(started.payment_id).subscription_id == "sub_1be9goB7WZ01zgkW6eaflQq8"
    plan_change = sample("14_customer.subscription.updated.plan_change.json")  # pro -> enterprise
    plan_change["data"]["object"].update(customer=customer)
    stripe.deliver(plan_change)
    view = priced.billing.subscription(user_id)
    assert (view.plan_id, view.status) == ("enterprise", "active")
    assert view.current_period_end == datetime.fromtimestamp(1791022488, tz=UTC)
    renewal = sample("13_invoice.paid.json")  # a subscription_cycle invoice for the pro price
    stripe.deliver(renewal)
    grants = [g for g in priced.ledger.balance(user_id).grants if (g.reference or "").startswith("payment:")]
    assert [(g.remaining, g.expires_at) for g in grants] == [(2000, datetime.fromtimestamp(1791022488, tz=UTC))]
    stripe.deliver(renewal)  # delivered twice: granted once
    assert priced.ledger.balance(user_id).balance == 100 + 2000
