"""The webhook suite: real Stripe-shaped events (adapters/stripe/events.py, API 2026-07-29.dahlia)
signed as Stripe signs them and verified by the stripe package, through `receive_webhook`, on
memory, SQLite and MariaDB. Each test names the ledger effect it proves."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from adapters.queue.recording import RecordingJobQueue
from adapters.stripe import events as ev
from adapters.stripe.fake import FakePaymentGateway
from domain.billing.errors import InvalidEvent, InvalidSignature
from domain.billing.model import EventStatus, PaymentStatus
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from entrypoints.worker.jobs import run_job
from tests.fixtures.containers import new_user, urls
from tests.fixtures.settings import make_settings
from tests.fixtures.stripe import FREE, WEBHOOK_SECRET, Stripe, balance, buy_pack, payment_of, subscribe


# --- packs ------------------------------------------------------------------------------------
def test_a_paid_pack_grants_its_credits_once_and_the_payment_is_paid(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    assert balance(container, user_id) == FREE + 500
    payment = payment_of(container, session_id)
    assert payment.status is PaymentStatus.PAID and payment.grant_id is not None
    grants = [g for g in container.ledger.balance(user_id).grants if g.id == payment.grant_id]
    assert grants[0].source.value == "purchase" and grants[0].expires_at is None


def test_a_repeated_event_is_a_no_op(container: Container, stripe: Stripe, user_id: str) -> None:
    session_id = buy_pack(container, stripe, user_id)
    for event in list(stripe.delivered):
        stripe.deliver(event)
    assert balance(container, user_id) == FREE + 500
    assert payment_of(container, session_id).status is PaymentStatus.PAID


def test_a_second_event_for_the_same_session_grants_nothing_more(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    stripe.deliver(ev.checkout_async_payment_succeeded(stripe.facts(session_id), now=stripe.now()))
    assert balance(container, user_id) == FREE + 500


def test_credits_come_from_our_payment_never_from_the_event_metadata(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    started = container.billing.checkout(user_id, pack_id="pack_100", **urls())
    event = ev.checkout_completed(stripe.facts(started.session_id), now=stripe.now())
    event["data"]["object"]["metadata"] = {
        **event["data"]["object"]["metadata"],
        "credits": "1000000",
        "pack_id": "pack_2000",
    }
    event["data"]["object"]["amount_total"] = 999999
    stripe.deliver(event)
    assert balance(container, user_id) == FREE + 100


def test_an_unpaid_completion_grants_nothing_until_the_async_payment_succeeds(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    facts = stripe.facts(started.session_id)
    stripe.deliver(ev.checkout_completed(facts, now=stripe.now(), payment_status="unpaid"))
    assert balance(container, user_id) == FREE
    assert payment_of(container, started.session_id).status is PaymentStatus.PENDING
    stripe.deliver(ev.checkout_async_payment_succeeded(facts, now=stripe.now()))
    assert balance(container, user_id) == FREE + 500


def test_a_failed_payment_grants_nothing_and_the_payment_is_failed(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    assert ev.types_of(stripe.outcome(started.session_id, "failed")) == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]
    assert balance(container, user_id) == FREE
    assert payment_of(container, started.session_id).status is PaymentStatus.FAILED


def test_an_expired_session_closes_the_pending_payment(container: Container, stripe: Stripe, user_id: str) -> None:
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    stripe.outcome(started.session_id, "cancel")
    assert payment_of(container, started.session_id).status is PaymentStatus.EXPIRED
    assert balance(container, user_id) == FREE


def test_an_event_of_a_type_we_do_not_handle_is_stored_and_ignored(container: Container, stripe: Stripe) -> None:
    event = ev.event("customer.created", {"id": "cus_x", "object": "customer"}, created=stripe.now())
    stripe.deliver(event)
    stored = container.billing.event(event["id"])
    assert stored is not None and stored.status is EventStatus.IGNORED


# --- signatures -------------------------------------------------------------------------------
def _pack_event(container: Container, stripe: Stripe, user_id: str) -> dict:  # type: ignore[type-arg]
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    return ev.checkout_completed(stripe.facts(started.session_id), now=stripe.now())


@pytest.mark.parametrize("attack", ["tampered", "wrong_secret", "stale", "missing", "future_garbage"])
def test_a_bad_signature_is_refused_and_nothing_is_stored(
    container: Container, stripe: Stripe, user_id: str, attack: str
) -> None:
    event = _pack_event(container, stripe, user_id)
    payload, header = stripe.signed(event)
    if attack == "tampered":
        payload = payload.replace(b'"livemode": false', b'"livemode": true')
    elif attack == "wrong_secret":
        payload, header = ev.signed(event, "whsec_not_ours_" + "x" * 20, int(stripe.now()))
        payload, header = Stripe(container.billing, stripe.clock, secret="whsec_other" + "y" * 30).signed(event)
    elif attack == "stale":
        payload, header = stripe.signed(event, timestamp=int(__import__("time").time()) - 600)
    elif attack == "missing":
        header = ""
    else:
        header = "t=abc,v1=zz"
    with pytest.raises(InvalidSignature):
        container.billing.receive_webhook(payload, header)
    assert container.billing.event(event["id"]) is None
    assert balance(container, user_id) == FREE


def test_a_signed_body_that_is_not_an_event_is_refused_and_nothing_is_stored(
    container: Container, stripe: Stripe
) -> None:
    for body in ({"hello": "world"}, {"id": "evt_1", "object": "event", "type": "x", "created": 1, "data": []}):
        payload = json.dumps(body).encode()
        header = ev.sign(payload, stripe.secret, int(__import__("time").time()))
        with pytest.raises(InvalidEvent):
            container.billing.receive_webhook(payload, header)
    assert container.billing.event("evt_1") is None


# --- plans and subscriptions -------------------------------------------------------------------
def test_a_paid_plan_grants_its_monthly_credits_expiring_at_the_end_of_the_invoice_period(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = subscribe(container, stripe, user_id)
    period_end = ev.add_month(clock.now()).replace(microsecond=0)
    plan_grants = [
        g
        for g in container.ledger.balance(user_id).grants
        if g.reference == f"payment:{payment_of(container, session_id).id}"
    ]
    assert [(g.source.value, g.remaining, g.expires_at) for g in plan_grants] == [("plan", 2000, period_end)]
    view = container.billing.subscription(user_id)
    assert (view.plan_id, view.status, view.current_period_end) == ("pro", "active", period_end)
    assert container.identity.get_user(user_id).plan == "pro"


def test_each_invoice_grants_once_and_purchased_credits_outlive_the_plan_credits(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = subscribe(container, stripe, user_id)
    buy_pack(container, stripe, user_id, "pack_100")
    first_end = ev.add_month(clock.now())
    clock.set(first_end)  # the second period starts: the first month's plan credits expire
    stripe.renewal(session_id, 2, first_end)
    stripe.renewal(session_id, 2, first_end)  # the same invoice again, in new events: granted once
    view = container.ledger.balance(user_id)
    by_source = sorted((g.source.value, g.remaining, g.expires_at) for g in view.grants)
    assert by_source == [("plan", 2000, ev.add_month(first_end).replace(microsecond=0)), ("purchase", 100, None)]
    assert view.balance == 2100


def test_a_failed_renewal_makes_the_subscription_past_due_and_a_failure_after_payment_changes_nothing(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = subscribe(container, stripe, user_id)
    paid_invoice = next(e for e in stripe.delivered if e["type"] == "invoice.paid")
    late_failure = dict(paid_invoice, id=ev.new_event_id(), type="invoice.payment_failed")
    stripe.deliver(late_failure)
    assert container.billing.subscription(user_id).status == "active"
    clock.set(ev.add_month(clock.now()))
    stripe.renewal(session_id, 2, clock.now(), paid=False)
    assert container.billing.subscription(user_id).status == "past_due"


def test_out_of_order_subscription_events_keep_the_newest_state(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = subscribe(container, stripe, user_id)
    t = stripe.now()
    start = clock.now()
    canceled = stripe.subscription_event(
        session_id, "customer.subscription.deleted", status="canceled", created=t + 100, period_start=start
    )
    older_update = stripe.subscription_event(
        session_id,
        "customer.subscription.updated",
        status="active",
        created=t + 50,
        period_start=start,
        cancel_at_period_end=True,
    )
    stripe.deliver(canceled)
    stripe.deliver(older_update)  # arrives late: must not bring the subscription back
    view = container.billing.subscription(user_id)
    assert (view.plan_id, view.status) == ("free", "active")
    assert container.identity.get_user(user_id).plan == "free"


def test_an_ended_subscription_never_touches_purchased_credits(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = subscribe(container, stripe, user_id)
    buy_pack(container, stripe, user_id, "pack_500")
    stripe.deliver(
        stripe.subscription_event(
            session_id,
            "customer.subscription.deleted",
            status="canceled",
            created=stripe.now() + 10,
            period_start=clock.now(),
        )
    )
    clock.set(ev.add_month(clock.now()) + timedelta(days=40))
    assert container.ledger.balance(user_id).balance == 500


def test_a_plan_change_takes_effect_as_stripe_reports_it(
    build,
    stripe: Stripe,
    clock: ManualClock,  # type: ignore[no-untyped-def]
) -> None:
    from tests.fixtures.settings import make_settings
    from tests.fixtures.stripe import WEBHOOK_SECRET

    container = build(
        settings=make_settings(
            stripe_webhook_secret=WEBHOOK_SECRET, stripe_price_ids=(("pro", "price_pro"), ("enterprise", "price_ent"))
        )
    )
    stripe = Stripe(container.billing, clock)
    user_id = new_user(container)
    session_id = subscribe(container, stripe, user_id)
    assert container.billing.subscription(user_id).plan_id == "pro"
    stripe.deliver(
        stripe.subscription_event(
            session_id,
            "customer.subscription.updated",
            status="active",
            created=stripe.now() + 5,
            period_start=clock.now(),
            price_id="price_ent",
        )
    )
    assert container.billing.subscription(user_id).plan_id == "enterprise"
    assert container.identity.get_user(user_id).plan == "enterprise"


def test_invoice_paid_before_the_checkout_event_still_grants_once(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    started = container.billing.checkout(user_id, plan_id="pro", **urls())
    events = ev.checkout_outcome(stripe.facts(started.session_id), "paid", stripe.clock.now())
    for event in reversed(events):  # invoice.paid, subscription.created, checkout.session.completed
        stripe.deliver(event)
    assert balance(container, user_id) == FREE + 2000
    assert container.billing.subscription(user_id).plan_id == "pro"


# --- refunds and disputes ---------------------------------------------------------------------
def test_a_refund_in_two_parts_reverses_in_proportion_and_a_repeat_reverses_nothing(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)  # 500 credits for 2000 cents
    stripe.refund(session_id, amount_refunded=800)
    assert balance(container, user_id) == FREE + 300
    assert payment_of(container, session_id).status is PaymentStatus.PARTIALLY_REFUNDED
    stripe.refund(session_id, amount_refunded=800)  # the same cumulative figure again: nothing more
    assert balance(container, user_id) == FREE + 300
    stripe.refund(session_id, amount_refunded=2000, previously=800)
    payment = payment_of(container, session_id)
    assert balance(container, user_id) == FREE
    assert (payment.status, payment.refunded_cents, payment.credits_reversed, payment.shortfall) == (
        PaymentStatus.REFUNDED,
        2000,
        500,
        0,
    )


def test_a_refund_that_takes_the_balance_below_the_low_balance_threshold_is_noticed(
    build: Callable[..., Container], clock: ManualClock, gateway: FakePaymentGateway
) -> None:
    # A clawback is a ledger movement like any other: the low-balance watcher sees it (before,
    # billing wrote its reversal past the watcher and nobody was told).
    container = build(
        settings=make_settings(stripe_webhook_secret=WEBHOOK_SECRET, low_balance_threshold=150, low_balance_rearm=300)
    )
    stripe, user_id = Stripe(container.billing, clock, gateway), new_user(container)
    session_id = buy_pack(container, stripe, user_id)  # 100 -> 600: re-armed
    clock.advance(seconds=1)
    stripe.refund(session_id, amount_refunded=2000)  # 600 -> 100: a crossing
    assert balance(container, user_id) == FREE
    inbox = container.platform_events.notifications.inbox(user_id, unread_only=False, limit=50, cursor=None)[0]
    assert [n.type for n in inbox.items].count("low_balance") == 1


def test_refunds_arriving_out_of_order_never_reverse_more_than_the_total(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    stripe.refund(session_id, amount_refunded=2000, previously=800)
    stripe.refund(session_id, amount_refunded=800)
    assert balance(container, user_id) == FREE
    assert payment_of(container, session_id).credits_reversed == 500


def test_a_refund_after_spending_reverses_what_is_left_and_records_the_shortfall(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    container.ledger.charge(user_id, feature_key="task.strategy", quantity=16, idempotency_key="spend")  # 400
    # The free allowance expires first, so it was spent first: 100 free + 300 of the pack.
    stripe.refund(session_id, amount_refunded=2000)
    payment = payment_of(container, session_id)
    assert balance(container, user_id) == 0
    assert (payment.credits_reversed, payment.shortfall) == (200, 300)
    assert container.ledger.check_invariants(user_id) == []


def test_a_dispute_reverses_what_is_left_and_a_won_dispute_gives_it_back(
    container: Container, stripe: Stripe, user_id: str
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    container.ledger.charge(user_id, feature_key="task.strategy", quantity=8, idempotency_key="spend")  # 200
    created = stripe.dispute(session_id)
    payment = payment_of(container, session_id)
    assert payment.status is PaymentStatus.DISPUTED
    assert (payment.credits_reversed, payment.shortfall, balance(container, user_id)) == (400, 100, 0)
    stripe.refund(session_id, amount_refunded=800)  # a refund during the dispute takes nothing more now
    assert balance(container, user_id) == 0
    stripe.dispute_closed(created, "won")
    # Won: the target is what the refund left (500 - 200 = 300). The ledger held 100 of them (spent
    # while the dispute was open: the shortfall), so 200 come back (issue 18, class 4: not 400).
    payment = payment_of(container, session_id)
    assert (balance(container, user_id), payment.credits_held, payment.shortfall) == (200, 300, 0)
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED


def test_a_lost_dispute_keeps_the_credits_reversed(container: Container, stripe: Stripe, user_id: str) -> None:
    session_id = buy_pack(container, stripe, user_id)
    created = stripe.dispute(session_id)
    stripe.dispute_closed(created, "lost")
    assert balance(container, user_id) == FREE
    assert payment_of(container, session_id).status is PaymentStatus.DISPUTED


def test_a_refund_for_a_charge_we_do_not_know_stays_pending_and_reconciliation_reports_it(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    event = ev.charge_refunded(
        payment_intent="pi_unknown",
        amount_cents=1000,
        currency="usd",
        amount_refunded=1000,
        previously_refunded=0,
        now=stripe.now(),
    )
    stripe.deliver(event)
    stored = container.billing.event(event["id"])
    assert stored is not None and (stored.status, stored.awaiting) == (EventStatus.PENDING, "pi:pi_unknown")
    report = container.billing.reconcile(since=clock.now() - timedelta(days=1))
    assert f"event {event['id']} (charge.refunded): no payment of ours for pi:pi_unknown" in report.mismatches


# --- failures and retries ---------------------------------------------------------------------
def test_a_failing_handler_leaves_the_event_failed_and_a_retry_succeeds(
    build,
    clock: ManualClock,  # type: ignore[no-untyped-def]
) -> None:
    queue = RecordingJobQueue()
    container = build(queue=queue)
    stripe = Stripe(container.billing, clock)
    user_id = new_user(container)
    started = container.billing.checkout(user_id, plan_id="pro", **urls())
    facts = stripe.facts(started.session_id)
    # A renewal invoice for a subscription nobody has told us about yet: the handler must fail.
    start = clock.now()
    renewal_paid = ev.invoice_event(
        "invoice.paid",
        facts,
        now=stripe.now(),
        number=2,
        period_start=ev.unix(start),
        period_end=ev.unix(ev.add_month(start)),
        billing_reason="subscription_cycle",
    )
    stripe.deliver(renewal_paid)
    [job] = [j for j in queue.jobs if j.payload["event_id"] == renewal_paid["id"]]
    assert job.retry is not None and job.retry.max_retries >= 3
    with pytest.raises(Exception, match="do not know yet"):
        run_job(container, job)
    stored = container.billing.event(renewal_paid["id"])
    assert stored is not None and stored.status is EventStatus.FAILED and stored.attempts == 1
    assert "do not know yet" in (stored.last_error or "")
    for event in ev.checkout_outcome(facts, "paid", clock.now()):  # the subscription becomes known
        stripe.deliver(event)
    for queued in [j for j in queue.jobs if j is not job]:
        run_job(container, queued)
    run_job(container, job)  # the queue's retry, after its backoff
    stored = container.billing.event(renewal_paid["id"])
    assert stored is not None and stored.status is EventStatus.PROCESSED and stored.last_error is None
    assert balance(container, user_id) == FREE + 2000 + 2000  # first invoice and the renewal, once each


def test_reconciliation_replays_a_missed_event_exactly_once_and_retries_failed_ones(
    container: Container, stripe: Stripe, user_id: str, gateway: FakePaymentGateway, clock: ManualClock
) -> None:
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    missed = ev.checkout_completed(stripe.facts(started.session_id), now=stripe.now())
    gateway.record([missed])  # Stripe has it; its webhook never reached us
    clock.advance(hours=1)
    report = container.billing.reconcile(since=clock.now() - timedelta(days=3))
    assert report.replayed == [missed["id"]] and report.still_failing == []
    assert balance(container, user_id) == FREE + 500
    again = container.billing.reconcile(since=clock.now() - timedelta(days=3))
    assert (again.listed, again.replayed) == (1, [])
    assert balance(container, user_id) == FREE + 500
    stored = container.billing.event(missed["id"])
    assert stored is not None and stored.source == "reconcile"


def test_reconciliation_reports_a_shortfall_to_look_at(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = buy_pack(container, stripe, user_id)
    container.ledger.charge(user_id, feature_key="task.strategy", quantity=20, idempotency_key="spend")  # 500
    stripe.refund(session_id, amount_refunded=2000)
    report = container.billing.reconcile(since=clock.now() - timedelta(days=1))
    payment = payment_of(container, session_id)
    assert [m for m in report.mismatches if m.startswith(payment.id)] == [
        f"{payment.id}: 400 credits could not be taken back (already spent)"
    ]


def test_reconciliation_skips_a_malformed_listed_event_and_handles_the_rest(
    container: Container, stripe: Stripe, user_id: str, gateway: FakePaymentGateway, clock: ManualClock
) -> None:
    started = container.billing.checkout(user_id, pack_id="pack_100", **urls())
    missed = ev.checkout_completed(stripe.facts(started.session_id), now=stripe.now())
    broken = {"id": "evt_broken", "created": stripe.now(), "type": "x", "data": {"object": None}}  # no object
    gateway.record([broken, missed])
    report = container.billing.reconcile(since=clock.now() - timedelta(days=1))
    assert (report.listed, report.replayed) == (2, [missed["id"]])
    assert container.billing.event("evt_broken") is None
    assert balance(container, user_id) == FREE + 100


def test_reconciliation_handles_an_event_whose_job_was_lost(
    build,
    clock: ManualClock,  # type: ignore[no-untyped-def]
) -> None:
    queue = RecordingJobQueue()  # stores the job and never runs it: as if Redis lost it
    container = build(queue=queue)
    stripe = Stripe(container.billing, clock)
    user_id = new_user(container)
    session_id = container.billing.checkout(user_id, pack_id="pack_500", **urls()).session_id
    stripe.outcome(session_id)
    assert balance(container, user_id) == FREE
    lost = stripe.delivered[0]["id"]
    assert lost not in container.billing.reconcile(since=clock.now() - timedelta(days=1)).retried  # not stuck yet
    clock.advance(minutes=11)
    report = container.billing.reconcile(since=clock.now() - timedelta(days=1))
    assert lost in report.retried and lost not in report.still_failing
    assert balance(container, user_id) == FREE + 500


def test_an_invoice_without_line_periods_grants_until_the_subscription_period_ends(
    container: Container, stripe: Stripe, user_id: str, clock: ManualClock
) -> None:
    session_id = subscribe(container, stripe, user_id)
    start = clock.now()
    invoice = ev.invoice_event(
        "invoice.paid",
        stripe.facts(session_id),
        now=stripe.now(),
        number=2,
        period_start=ev.unix(start),
        period_end=ev.unix(ev.add_month(start)),
        billing_reason="subscription_cycle",
    )
    for line in invoice["data"]["object"]["lines"]["data"]:
        line.pop("period")
    stripe.deliver(invoice)
    ends = sorted(
        g.expires_at for g in container.ledger.balance(user_id).grants if (g.reference or "").startswith("payment:")
    )
    assert ends == [container.billing.subscription(user_id).current_period_end] * 2


@pytest.mark.parametrize("only_the_invoice", [False, True])
def test_a_failed_first_invoice_fails_the_checkout_payment_and_grants_nothing(
    container: Container, stripe: Stripe, user_id: str, only_the_invoice: bool
) -> None:
    started = container.billing.checkout(user_id, plan_id="pro", **urls())
    events = ev.checkout_outcome(stripe.facts(started.session_id), "failed", stripe.clock.now())
    assert ev.types_of(events) == ["customer.subscription.created", "invoice.payment_failed"]
    for event in events[1:] if only_the_invoice else events:  # alone, only the metadata names our payment
        stripe.deliver(event)
    assert payment_of(container, started.session_id).status is PaymentStatus.FAILED
    assert balance(container, user_id) == FREE
    assert container.billing.subscription(user_id).plan_id == "free"
