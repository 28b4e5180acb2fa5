"""Billing use cases on memory storage: the rules that need no provider event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.stripe.fake import FakePaymentGateway
from domain.billing.errors import PaymentProviderUnavailable, SubscriptionNotFound
from domain.billing.model import Payment, PaymentKind, PaymentStatus
from domain.shared.errors import Conflict, InvalidInput, NotFound
from entrypoints.bootstrap import Container
from tests.fixtures.containers import new_user, urls
from tests.fixtures.stripe import Stripe

MEMORY = pytest.mark.parametrize("backend", ["memory"], indirect=True)  # rules, not storage
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _payment(credits: int, amount_cents: int) -> Payment:
    return Payment(
        id="p",
        user_id="u",
        kind=PaymentKind.PACK,
        item_id="x",
        item_name="x",
        credits=credits,
        amount_cents=amount_cents,
        currency="usd",
        status=PaymentStatus.PAID,
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("credits", "amount", "refunded", "expected"),
    [
        (500, 2000, 800, 200),
        (500, 2000, 1999, 499),
        (500, 2000, 2000, 500),
        (500, 2000, 5000, 500),
        (100, 300, 100, 33),
        (100, 300, 0, 0),
    ],
)
def test_refunded_credits_are_in_proportion_rounded_down_and_all_of_them_for_a_full_refund(
    credits: int, amount: int, refunded: int, expected: int
) -> None:
    assert _payment(credits, amount).credits_for_refund(refunded) == expected


@MEMORY
def test_checkout_records_the_catalogue_figures_before_it_answers(
    container: Container, gateway: FakePaymentGateway
) -> None:
    user_id = new_user(container)
    started = container.billing.checkout(user_id, pack_id="pack_2000", **urls())
    [request] = gateway.sessions.values()  # what the gateway was asked (a CheckoutRequest's fields)
    assert (request["mode"], request["amount_cents"], request["currency"], request["product_name"]) == (
        "payment",
        7000,
        "usd",
        "2,000 credits",
    )
    assert request["metadata"] == {"payment_id": started.payment_id, "user_id": user_id, "pack_id": "pack_2000"}
    payment = container.billing.payment(started.payment_id)
    assert (payment.status, payment.credits, payment.session_id) == (PaymentStatus.PENDING, 2000, started.session_id)


@MEMORY
def test_a_provider_outage_fails_the_checkout_and_the_same_key_tries_again(
    container: Container, gateway: FakePaymentGateway
) -> None:
    user_id = new_user(container)
    gateway.fail_next(PaymentProviderUnavailable())  # the provider is down for the next call
    with pytest.raises(PaymentProviderUnavailable):
        container.billing.checkout(user_id, pack_id="pack_100", idempotency_key="k1", **urls())
    [failed] = container.billing.payments(user_id).items
    assert failed.status is PaymentStatus.FAILED and failed.grant_id is None
    started = container.billing.checkout(user_id, pack_id="pack_100", idempotency_key="k1", **urls())
    assert started.payment_id == failed.id
    assert container.billing.payment(failed.id).status is PaymentStatus.PENDING


@MEMORY
def test_a_checkout_key_is_checked_and_stored_in_the_one_scoped_form(container: Container) -> None:
    """Issue 26 §4: the key as stored comes from domain.shared.idempotency, like the ledger's."""
    user_id = new_user(container)
    started = container.billing.checkout(user_id, pack_id="pack_100", idempotency_key="k1", **urls())
    assert container.billing.payment(started.payment_id).checkout_key == "checkout:k1"
    with pytest.raises(InvalidInput):
        container.billing.checkout(user_id, pack_id="pack_100", idempotency_key="tab\tkey", **urls())


@MEMORY
def test_a_second_plan_while_subscribed_is_refused(container: Container, stripe: Stripe) -> None:
    user_id = new_user(container)
    stripe.outcome(container.billing.checkout(user_id, plan_id="pro", **urls()).session_id)
    with pytest.raises(Conflict):
        container.billing.checkout(user_id, plan_id="enterprise", **urls())
    container.billing.checkout(user_id, pack_id="pack_100", **urls())  # packs are always on sale


@MEMORY
def test_cancel_portal_and_subscription_views(
    container: Container, stripe: Stripe, gateway: FakePaymentGateway
) -> None:
    user_id = new_user(container)
    assert container.billing.subscription(user_id).plan_id == "free"
    with pytest.raises(SubscriptionNotFound):
        container.billing.cancel_subscription(user_id)
    with pytest.raises(NotFound):
        container.billing.portal(user_id, return_url="https://app.example")
    stripe.outcome(container.billing.checkout(user_id, plan_id="pro", **urls()).session_id)
    view = container.billing.cancel_subscription(user_id)
    cancelled = [s for s in gateway.subscriptions.values() if s["cancel_at_period_end"]]
    assert view.cancel_at_period_end is True and len(cancelled) == 1
    assert container.billing.portal(user_id, return_url="https://app.example").startswith(gateway.public_base_url)
    [(customer, _)] = gateway.portal_sessions
    assert customer.startswith("cus_fake_")


@MEMORY
def test_the_free_plan_cannot_be_bought_and_one_item_is_required(container: Container) -> None:
    user_id = new_user(container)
    with pytest.raises(InvalidInput):
        container.billing.checkout(user_id, plan_id="free", **urls())
    with pytest.raises(InvalidInput):
        container.billing.checkout(user_id, **urls())


@MEMORY
def test_payments_are_keyset_pages_newest_first(container: Container) -> None:
    user_id = new_user(container)
    ids = [container.billing.checkout(user_id, pack_id="pack_100", **urls()).payment_id for _ in range(5)]
    first = container.billing.payments(user_id, limit=2)
    second = container.billing.payments(user_id, limit=2, cursor=first.next_cursor)
    third = container.billing.payments(user_id, limit=2, cursor=second.next_cursor)
    assert [p.id for p in first.items + second.items + third.items] == ids[::-1]
    assert third.next_cursor is None
    assert container.billing.payments(new_user(container)).items == []
