"""Issue 18, one test per class of money lost (each failed on the code before the convergence),
with real Stripe-shaped events signed and verified, on memory, SQLite and MariaDB; the races on
MariaDB only, with threads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from adapters.stripe import events as ev
from domain.billing.model import EventStatus, PaymentStatus
from domain.shared.clock import ManualClock
from domain.shared.errors import Conflict
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.containers import new_user, urls
from tests.fixtures.settings import make_settings
from tests.fixtures.stripe import FREE, WEBHOOK_SECRET, Stripe, balance, buy_pack, payment_of, subscribe

PACK, PRICE = 500, 2000  # pack_500


def started_pack(container: Container, user_id: str) -> tuple[str, str]:
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    return started.session_id, started.payment_id


def refund_event(
    stripe: Stripe,
    session_id: str,
    refunded: int,
    *,
    amount: int = PRICE,
    currency: str = "usd",
    now: int | None = None,
) -> dict[str, Any]:
    facts = stripe.facts(session_id)
    assert facts.payment_intent is not None
    return ev.charge_refunded(
        payment_intent=facts.payment_intent,
        amount_cents=amount,
        currency=currency,
        amount_refunded=refunded,
        previously_refunded=0,
        now=now or stripe.now(),
    )


def dispute(stripe: Stripe, session_id: str, type_: str, status: str, *, opened: int, now: int) -> dict[str, Any]:
    facts = stripe.facts(session_id)
    assert facts.payment_intent is not None
    return ev.dispute_event(
        type_,
        payment_intent=facts.payment_intent,
        amount_cents=PRICE,
        currency="usd",
        created=opened,
        now=now,
        status=status,
    )


# --- 1. a refund or dispute before the completion ---------------------------------------------
def test_a_full_refund_before_the_completion_event_takes_the_credits(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id, payment_id = started_pack(container, user_id)
    early = refund_event(stripe, session_id, PRICE)
    stripe.deliver(early)
    assert container.billing.event(early["id"]).status is EventStatus.PENDING  # type: ignore[union-attr]
    stripe.deliver(ev.checkout_completed(stripe.facts(session_id), now=stripe.now()))
    payment = container.billing.payment(payment_id)
    assert (balance(container, user_id), payment.status, payment.refunded_cents) == (
        FREE,
        PaymentStatus.REFUNDED,
        PRICE,
    )
    assert container.billing.event(early["id"]).status is EventStatus.PROCESSED  # type: ignore[union-attr]


def test_a_dispute_before_the_completion_event_takes_the_credits(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id, payment_id = started_pack(container, user_id)
    t = stripe.now()
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.created", "needs_response", opened=t, now=t))
    stripe.deliver(ev.checkout_completed(stripe.facts(session_id), now=t))
    assert (balance(container, user_id), container.billing.payment(payment_id).status) == (FREE, PaymentStatus.DISPUTED)


# --- 2. unpaid session, refund, then the async success ----------------------------------------
def test_a_refund_before_the_async_success_leaves_nothing_and_no_false_shortfall(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id, payment_id = started_pack(container, user_id)
    facts = stripe.facts(session_id)
    stripe.deliver(ev.checkout_completed(facts, now=stripe.now(), payment_status="unpaid"))
    stripe.deliver(refund_event(stripe, session_id, PRICE))
    stripe.deliver(ev.checkout_async_payment_succeeded(facts, now=stripe.now()))
    payment = container.billing.payment(payment_id)
    assert (balance(container, user_id), payment.shortfall, payment.status) == (FREE, 0, PaymentStatus.REFUNDED)


# --- 4. dispute, partial refund, dispute won --------------------------------------------------
def test_a_won_dispute_gives_back_what_the_refund_left_not_the_whole_dispute(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    t = stripe.now()
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.created", "needs_response", opened=t, now=t))
    stripe.deliver(refund_event(stripe, session_id, 800, now=t + 1))  # 200 credits' worth
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.closed", "won", opened=t, now=t + 2))
    assert balance(container, user_id) == FREE + 300


# --- 5. inquiries, and a dispute closed before it was created ---------------------------------
def test_an_inquiry_takes_nothing(container: Container, stripe: Stripe, user_id: str) -> None:
    session_id = buy_pack(container, stripe, user_id)
    t = stripe.now()
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.created", "warning_needs_response", opened=t, now=t))
    assert balance(container, user_id) == FREE + PACK
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.closed", "warning_closed", opened=t, now=t + 1))
    assert balance(container, user_id) == FREE + PACK


@pytest.mark.parametrize("closing, kept", [("won", PACK), ("lost", 0)])
def test_a_dispute_closed_before_its_created_event_ends_as_closed(
    container: Container, stripe: Stripe, user_id: str, closing: str, kept: int
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    t = stripe.now()
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.closed", closing, opened=t, now=t + 5))
    stripe.deliver(dispute(stripe, session_id, "charge.dispute.created", "needs_response", opened=t, now=t))
    assert balance(container, user_id) == FREE + kept


# --- 6. refunds on the charge's own amount and currency ----------------------------------------
def test_a_full_refund_of_a_charge_in_another_currency_takes_every_credit(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id, payment_id = started_pack(container, user_id)
    completed = ev.checkout_completed(stripe.facts(session_id), now=stripe.now())
    # Adaptive pricing: the buyer paid 1850 EUR cents, worth our 2000 USD cents.
    completed["data"]["object"].update(
        amount_total=1850,
        currency="eur",
        currency_conversion={
            "amount_subtotal": 2000,
            "amount_total": 2000,
            "fx_rate": "1.081",
            "source_currency": "usd",
        },
    )
    stripe.deliver(completed)
    assert balance(container, user_id) == FREE + PACK
    stripe.deliver(refund_event(stripe, session_id, 1850, amount=1850, currency="eur"))
    assert balance(container, user_id) == FREE
    stripe.deliver(refund_event(stripe, session_id, 925, amount=1850, currency="eur", now=stripe.now() - 10))
    assert balance(container, user_id) == FREE  # an older, smaller figure changes nothing


def test_a_half_refund_of_a_taxed_charge_takes_half_the_credits(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id, _ = started_pack(container, user_id)
    completed = ev.checkout_completed(stripe.facts(session_id), now=stripe.now())
    completed["data"]["object"]["amount_total"] = 2400  # 20% tax on top
    stripe.deliver(completed)
    stripe.deliver(refund_event(stripe, session_id, 1200, amount=2400))
    assert balance(container, user_id) == FREE + PACK // 2


# --- 9. amount and currency compared with what was sold ----------------------------------------
@pytest.mark.parametrize("amount, currency", [(1, "jpy"), (1999, "usd"), (2000, "eur")])
def test_a_payment_of_less_than_sold_or_in_another_currency_grants_nothing_and_is_reported(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock, amount: int, currency: str
) -> None:
    session_id, payment_id = started_pack(container, user_id)
    completed = ev.checkout_completed(stripe.facts(session_id), now=stripe.now())
    completed["data"]["object"].update(amount_total=amount, currency=currency)
    stripe.deliver(completed)
    assert balance(container, user_id) == FREE
    report = container.billing.reconcile(since=clock.now() - timedelta(days=1))
    assert any(m.startswith(f"{payment_id}: no credits granted: paid {amount} {currency}") for m in report.mismatches)


# --- 11. a refund that failed gives the credits back; shortfalls are recovered -----------------
def test_a_refund_that_failed_gives_the_credits_back(container: Container, stripe: Stripe, user_id: str) -> None:
    session_id = buy_pack(container, stripe, user_id)
    t = stripe.now()
    stripe.deliver(refund_event(stripe, session_id, PRICE, now=t))
    assert balance(container, user_id) == FREE
    facts = stripe.facts(session_id)
    assert facts.payment_intent is not None
    stripe.deliver(
        ev.refund_updated(
            refund_id="re_x",
            payment_intent=facts.payment_intent,
            amount_cents=PRICE,
            currency="usd",
            status="failed",
            created=t,
            now=t + 1,
        )
    )
    assert balance(container, user_id) == FREE + PACK


def test_a_shortfall_is_taken_once_the_held_credits_come_back(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    hold = container.ledger.hold(user_id, amount=FREE + PACK, idempotency_key="h1")
    stripe.deliver(refund_event(stripe, session_id, PRICE))
    payment = payment_of(container, session_id)
    assert (payment.shortfall, balance(container, user_id)) == (PACK, FREE + PACK)
    assert hold.hold is not None
    container.ledger.void(user_id, hold.hold.id, idempotency_key="v1")
    container.billing.reconcile(since=clock.now() - timedelta(days=1))
    payment = payment_of(container, session_id)
    assert (payment.shortfall, balance(container, user_id)) == (0, FREE)
    assert container.ledger.check_invariants(user_id) == []


# --- 7. one plan per user ----------------------------------------------------------------------
def test_a_second_plan_checkout_while_one_is_open_or_live_is_409(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    first = container.billing.checkout(user_id, plan_id="pro", **urls())
    with pytest.raises(Conflict):
        container.billing.checkout(user_id, plan_id="enterprise", **urls())
    stripe.outcome(first.session_id, "cancel")  # the open checkout expires: the slot is free
    second = container.billing.checkout(user_id, plan_id="pro", **urls())
    stripe.outcome(second.session_id, "paid")
    with pytest.raises(Conflict):
        container.billing.checkout(user_id, plan_id="enterprise", **urls())


# --- 8. invoices grant by what they are --------------------------------------------------------
@pytest.fixture
def priced(build: Callable[..., Container]) -> Container:
    return build(
        settings=make_settings(
            stripe_webhook_secret=WEBHOOK_SECRET, stripe_price_ids=(("pro", "price_pro"), ("enterprise", "price_ent"))
        )
    )


def invoice_paid(
    stripe: Stripe, session_id: str, number: int, reason: str, *, price: str, amount: int, start: int
) -> dict[str, Any]:
    facts = stripe.facts(session_id)
    from dataclasses import replace

    facts = replace(facts, price_id=price, amount_cents=amount)
    end = start + 30 * 24 * 3600
    return ev.invoice_event(
        "invoice.paid", facts, now=start, number=number, period_start=start, period_end=end, billing_reason=reason
    )


@pytest.mark.parametrize("reason, amount", [("subscription_update", 7900), ("subscription_cycle", 0)])
def test_proration_and_zero_invoices_grant_nothing(
    priced: Container, clock: ManualClock, reason: str, amount: int
) -> None:
    stripe = Stripe(priced.billing, clock)
    user_id = new_user(priced)
    session_id = subscribe(priced, stripe, user_id)
    assert balance(priced, user_id) == FREE + 2000
    for number in (2, 3):  # switching back and forth farms nothing
        stripe.deliver(
            invoice_paid(
                stripe, session_id, number, reason, price="price_ent", amount=amount, start=stripe.now() + number
            )
        )
    assert balance(priced, user_id) == FREE + 2000


def test_a_renewal_after_an_upgrade_grants_the_new_plan(priced: Container, clock: ManualClock) -> None:
    stripe = Stripe(priced.billing, clock)
    user_id = new_user(priced)
    session_id = subscribe(priced, stripe, user_id)
    renewal = invoice_paid(
        stripe, session_id, 2, "subscription_cycle", price="price_ent", amount=9900, start=stripe.now() + 60
    )
    lines = renewal["data"]["object"]["lines"]["data"]
    proration = {
        **lines[0],
        "id": "il_proration",
        "amount": -1000,
        "pricing": {"price_details": {"price": "price_pro", "product": "prod_pro"}, "type": "price_details"},
        "parent": {
            **lines[0]["parent"],
            "subscription_item_details": {**lines[0]["parent"]["subscription_item_details"], "proration": True},
        },
    }
    renewal["data"]["object"]["lines"]["data"] = [proration, *lines]  # the old plan's proration line comes first
    stripe.deliver(renewal)
    assert balance(priced, user_id) == FREE + 2000 + 12000


def test_a_refund_of_a_plan_invoice_claws_back_what_is_left_of_its_grant(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = subscribe(container, stripe, user_id)
    invoice = next(e for e in stripe.delivered if e["type"] == "invoice.paid")["data"]["object"]
    intent = ev.derived_id("pi", invoice["id"])  # unique per test run: MariaDB's database is shared by runs
    stripe.deliver(
        ev.event(
            "invoice_payment.paid",
            {
                "id": ev.derived_id("inpay", invoice["id"]),
                "object": "invoice_payment",
                "invoice": invoice["id"],
                "amount_paid": 2000,
                "currency": "usd",
                "status": "paid",
                "payment": {"type": "payment_intent", "payment_intent": intent},
            },
            created=stripe.now(),
        )
    )
    container.ledger.charge(user_id, feature_key="task.strategy", quantity=20, idempotency_key="spend")  # 500
    stripe.deliver(
        ev.charge_refunded(
            payment_intent=intent,
            amount_cents=2000,
            currency="usd",
            amount_refunded=2000,
            previously_refunded=0,
            now=stripe.now(),
        )
    )
    payment = payment_of(container, session_id)
    # The free 100 were spent first, then 400 of the plan's 2000: 1600 are left to take back.
    assert (balance(container, user_id), payment.credits_reversed, payment.shortfall) == (0, 1600, 400)


def test_a_paid_invoice_clears_past_due(container: Container, stripe: Stripe, user_id: str, clock: ManualClock) -> None:
    session_id = subscribe(container, stripe, user_id)
    clock.set(ev.add_month(clock.now()))
    failed = stripe.renewal(session_id, 2, clock.now(), paid=False)
    assert container.billing.subscription(user_id).status == "past_due"
    retried = next(e for e in failed if e["type"] == "invoice.payment_failed")
    paid = dict(retried, id=ev.new_event_id(), type="invoice.paid", created=retried["created"] + 60)
    paid["data"] = {
        "object": {
            **retried["data"]["object"],
            "status": "paid",
            "amount_paid": retried["data"]["object"]["amount_due"],
        }
    }
    stripe.deliver(paid)
    assert container.billing.subscription(user_id).status == "active"
    assert balance(container, user_id) == 2000  # the new period's credits (the first period's expired)


def test_the_reconciliation_window_defaults_to_stripes_thirty_days(container: Container) -> None:
    assert container.billing.config.reconcile_window_seconds == 30 * 24 * 3600


# --- the races (MariaDB) -----------------------------------------------------------------------


mariadb = pytest.mark.parametrize("backend", ["mariadb"], indirect=True)


@mariadb
def test_sixteen_concurrent_completions_and_cumulative_refunds_end_at_zero(
    container: Container, stripe: Stripe
) -> None:
    billing = container.billing
    user_id = new_user(container)
    session_id, payment_id = started_pack(container, user_id)
    facts = stripe.facts(session_id)
    t = stripe.now()
    events = [ev.checkout_completed(facts, now=t) for _ in range(4)]
    events += [ev.checkout_async_payment_succeeded(facts, now=t) for _ in range(4)]
    events += [refund_event(stripe, session_id, 250 * (i + 1), now=t + i + 1) for i in range(8)]  # up to 2000
    signed = [stripe.signed(e) for e in events]
    _, errors = run_together([lambda p=p, h=h: billing.receive_webhook(p, h) for p, h in signed])
    assert errors == []
    payment = billing.payment(payment_id)
    assert (balance(container, user_id), payment.credits_held, payment.shortfall, payment.status) == (
        FREE,
        0,
        0,
        PaymentStatus.REFUNDED,
    )
    assert container.ledger.check_invariants(user_id) == []


@mariadb
def test_sixteen_concurrent_plan_checkouts_make_one_payment(container: Container) -> None:
    billing = container.billing
    user_id = new_user(container)
    results, errors = run_together([lambda: billing.checkout(user_id, plan_id="pro", **urls())] * 16)
    assert len(results) == 1 and len(errors) == 15 and all(isinstance(e, Conflict) for e in errors)


@mariadb
def test_sixteen_concurrent_checkouts_with_one_key_replay_identically(container: Container) -> None:
    billing = container.billing
    user_id = new_user(container)
    results, errors = run_together(
        [lambda: billing.checkout(user_id, pack_id="pack_500", idempotency_key="k-1", **urls())] * 16
    )
    assert errors == [] and len({(r.payment_id, r.session_id, r.url) for r in results}) == 1


@mariadb
def test_sixteen_invoice_paid_events_for_one_invoice_grant_once_and_none_fails(
    container: Container, stripe: Stripe
) -> None:
    billing = container.billing
    user_id = new_user(container)
    session_id = subscribe(container, stripe, user_id)
    clock_now = stripe.now() + 3600
    renewal = invoice_paid(
        stripe, session_id, 2, "subscription_cycle", price=stripe.facts(session_id).price, amount=2000, start=clock_now
    )
    copies = [dict(renewal, id=ev.new_event_id()) for _ in range(16)]
    signed = [stripe.signed(e) for e in copies]
    _, errors = run_together([lambda p=p, h=h: billing.receive_webhook(p, h) for p, h in signed])
    assert errors == []
    assert balance(container, user_id) == FREE + 2000 + 2000
    assert [billing.event(e["id"]).status for e in copies] == [EventStatus.PROCESSED] * 16  # type: ignore[union-attr]
