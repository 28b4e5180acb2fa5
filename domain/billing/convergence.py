"""What a payment is worth, from everything known about it: a pure fold over its events.

Stripe guarantees neither order nor single delivery, so no event is acted on by itself. Every
verified event that concerns a payment is attached to it, and `fold(events)` reduces the whole set
to `Facts`; `target(payment, facts)` says how many credits the payment's owner should hold for it.
The fold is order-free: for each provider object (a refund, a dispute, the charge) it keeps the
*latest* state, by the event's `created` second and then by how far along the object's life the
state is (`_RANK`), so the same set gives the same facts in every order, with any repetition.

The target, for the credits `C` sold (the figure copied at checkout or at the invoice):

| known                                                    | target                              |
| -------------------------------------------------------- | ----------------------------------- |
| never paid (unpaid, async failed, expired)               | 0                                   |
| paid, but less than sold or in another currency          | 0 (and flagged for review)          |
| a plan invoice that grants nothing ($0, proration, ...)  | 0                                   |
| paid                                                     | C − taken(lost)                      |

where `lost = min(base, refunded + disputed)`, in the charge's own currency and out of the charge's
own amount `base`; `taken(lost) = C` when `lost >= base`, else `C * lost // base` (credits taken back
are rounded down: the buyer keeps the odd credit). `refunded` counts refunds that did not fail or
get canceled; `disputed` counts disputes open (`needs_response`, `under_review`) or `lost`;
inquiries (`warning_*`) and `won` disputes take nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.billing import objects as o

PAID_SESSION = ("paid", "no_payment_required")
# Invoices that pay for a period of the plan; proration (`subscription_update`), threshold and
# manual invoices grant nothing (README: "Billing in one page").
GRANTING_INVOICE = (None, "subscription_create", "subscription_cycle")
# How far along its life each state is: a tie on `created` keeps the later state.
_RANK = {
    "pending": 0,
    "requires_action": 0,
    "succeeded": 1,
    "failed": 2,
    "canceled": 2,
    "warning_needs_response": 0,
    "needs_response": 0,
    "warning_under_review": 1,
    "under_review": 1,
    "warning_closed": 3,
    "won": 3,
    "lost": 3,
}
TAKING_DISPUTE = ("needs_response", "under_review", "lost")
FAILED_REFUND = ("failed", "canceled")

# Every event type billing places on a payment (the rest of the handled types are subscriptions').
SESSION_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
CHARGE_EVENTS = ("charge.refunded",)  # charge.succeeded/updated would leave every unmapped charge pending
# issue 27: the card's fingerprint (referrals). A charge.succeeded only teaches ids and the card;
# one whose payment is not known is stored `ignored` (never retried) and attached if a payment
# learns its payment intent or charge later, so a charge that is not ours stays nobody's problem.
CARD_EVENTS = ("charge.succeeded",)
REFUND_EVENTS = ("charge.refund.updated", "refund.created", "refund.updated", "refund.failed")
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
INVOICE_EVENTS = ("invoice.paid", "invoice_payment.paid")
PAYMENT_EVENTS = SESSION_EVENTS + CHARGE_EVENTS + REFUND_EVENTS + DISPUTE_EVENTS + INVOICE_EVENTS + CARD_EVENTS


@dataclass(frozen=True, slots=True)
class Captured:
    amount: int  # in `currency`, what the buyer paid (the merchant-side amount under adaptive pricing)
    currency: str
    base: int  # the charge's own amount, in the charge's currency: refunds and disputes are out of it


@dataclass(slots=True)
class Facts:
    paid: bool = False
    ended: str | None = None  # "failed" | "expired": an unpaid checkout that will never be paid
    captured: Captured | None = None
    grants_credits: bool = True  # False for plan invoices that pay for no period (see GRANTING_INVOICE)
    period_end: datetime | None = None  # plan invoices: the end of the period paid for
    charge_amount: int | None = None
    refunded: int = 0
    disputed: int = 0
    dispute_open: bool = False
    refs: dict[str, str] = field(default_factory=dict)  # ids learnt: payment_intent, charge, ...

    @property
    def base(self) -> int | None:
        if self.charge_amount:
            return self.charge_amount
        return self.captured.base if self.captured else None


def fold(events: Iterable[Mapping[str, Any]]) -> Facts:
    """The facts a set of verified events establishes about one payment, whatever their order."""
    facts = Facts()
    charge_snapshot: tuple[int, int, int] | None = None  # (created, amount_refunded, amount)
    refunds: dict[str, tuple[tuple[int, int], int, str]] = {}  # id -> ((created, rank), amount, status)
    disputes: dict[str, tuple[tuple[int, int], int, str]] = {}
    for event in events:
        kind, created, obj = str(event.get("type")), o.integer(event, "created") or 0, o.obj(event)
        if kind in CHARGE_EVENTS + CARD_EVENTS:  # the card that paid (every charge object carries it)
            _learn(facts, "card_fingerprint", o.text(obj, "payment_method_details", "card", "fingerprint"))
        if kind in SESSION_EVENTS:
            _session(facts, kind, obj)
        elif kind == "invoice.paid":
            _invoice(facts, obj)
        elif kind == "invoice_payment.paid":
            _learn(facts, "payment_intent", o.text(obj, "payment", "payment_intent"))
            _learn(facts, "charge", o.text(obj, "payment", "charge"))
        elif kind in CARD_EVENTS:
            _learn(facts, "charge", o.text(obj, "id"))
            _learn(facts, "payment_intent", o.text(obj, "payment_intent"))
        elif kind in CHARGE_EVENTS:
            amount, refunded = o.integer(obj, "amount"), o.integer(obj, "amount_refunded")
            _learn(facts, "charge", o.text(obj, "id"))
            _learn(facts, "payment_intent", o.text(obj, "payment_intent"))
            if amount is not None and refunded is not None:
                snapshot = (created, refunded, amount)
                charge_snapshot = max(charge_snapshot, snapshot) if charge_snapshot else snapshot
        elif kind in REFUND_EVENTS:
            _latest(refunds, obj, created)
            _learn(facts, "charge", o.text(obj, "charge"))
            _learn(facts, "payment_intent", o.text(obj, "payment_intent"))
        elif kind in DISPUTE_EVENTS:
            _latest(disputes, obj, created)
            _learn(facts, "charge", o.text(obj, "charge"))
            _learn(facts, "payment_intent", o.text(obj, "payment_intent"))
    if charge_snapshot is not None:
        facts.charge_amount = charge_snapshot[2]
    facts.refunded = _refunded(charge_snapshot, refunds)
    facts.disputed = sum(amount for _, amount, status in disputes.values() if status in TAKING_DISPUTE)
    facts.dispute_open = any(status in ("needs_response", "under_review") for _, _, status in disputes.values())
    return facts


def _refunded(snapshot: tuple[int, int, int] | None, refunds: Mapping[str, tuple[tuple[int, int], int, str]]) -> int:
    """Cumulative refunded cents that stand. The charge's `amount_refunded` counts every refund
    created up to its snapshot; a refund that failed or was canceled *after* that snapshot (the
    money never left) is taken out again. Refund objects that succeeded are a floor, for a refund
    whose charge.refunded has not arrived yet."""
    succeeded = sum(amount for _, amount, status in refunds.values() if status == "succeeded")
    if snapshot is None:
        return succeeded
    created, amount_refunded, _ = snapshot
    failed_since = sum(
        amount for (at, _), amount, status in refunds.values() if status in FAILED_REFUND and at >= created
    )
    return max(succeeded, amount_refunded - failed_since, 0)


def _latest(states: dict[str, tuple[tuple[int, int], int, str]], obj: Mapping[str, Any], created: int) -> None:
    object_id, amount, status = o.text(obj, "id"), o.integer(obj, "amount"), str(obj.get("status") or "")
    if object_id is None or amount is None:
        return
    version = (created, _RANK.get(status, 0))
    known = states.get(object_id)
    if known is None or version > known[0]:
        states[object_id] = (version, amount, status)


def _session(facts: Facts, kind: str, session: Mapping[str, Any]) -> None:
    _learn(facts, "payment_intent", o.text(session, "payment_intent"))
    _learn(facts, "customer", o.text(session, "customer"))
    _learn(facts, "subscription", o.text(session, "subscription"))
    _learn(facts, "invoice", o.text(session, "invoice"))
    if kind == "checkout.session.async_payment_failed":
        facts.ended = facts.ended or "failed"
    elif kind == "checkout.session.expired":
        facts.ended = facts.ended or "expired"
    elif session.get("payment_status") in PAID_SESSION and (
        kind == "checkout.session.async_payment_succeeded" or session.get("mode") != "subscription"
    ):
        facts.paid = True
        facts.captured = facts.captured or _session_amount(session)


def _session_amount(session: Mapping[str, Any]) -> Captured | None:
    """What was paid, in our currency: under adaptive pricing the buyer pays in theirs, and
    `currency_conversion` says what that is in the currency we priced in."""
    total, currency = o.integer(session, "amount_total"), o.text(session, "currency")
    if total is None or currency is None:
        return None
    conversion = session.get("currency_conversion")
    if isinstance(conversion, Mapping):
        source_total, source = o.integer(conversion, "amount_total"), o.text(conversion, "source_currency")
        if source_total is not None and source is not None:
            return Captured(source_total, source.lower(), total)
    return Captured(total, currency.lower(), total)


def _invoice(facts: Facts, invoice: Mapping[str, Any]) -> None:
    paid, currency = o.integer(invoice, "amount_paid"), o.text(invoice, "currency")
    facts.paid = True
    if paid is not None and currency is not None:
        facts.captured = Captured(paid, currency.lower(), paid)
    facts.grants_credits = invoice.get("billing_reason") in GRANTING_INVOICE and bool(paid)
    facts.period_end = o.invoice_period_end(invoice)
    for payment in _invoice_payments(invoice):
        _learn(facts, "payment_intent", o.text(payment, "payment", "payment_intent"))
        _learn(facts, "charge", o.text(payment, "payment", "charge"))


def _invoice_payments(invoice: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    payments = invoice.get("payments")
    data = payments.get("data") if isinstance(payments, Mapping) else None
    return [p for p in data if isinstance(p, Mapping)] if isinstance(data, list) else []


def _learn(facts: Facts, name: str, value: str | None) -> None:
    if value and name not in facts.refs:
        facts.refs[name] = value


@dataclass(frozen=True, slots=True)
class Target:
    credits: int
    review: str | None  # why a paid payment grants nothing (an amount or currency we did not sell)


def target(*, credits: int, amount_cents: int, currency: str, facts: Facts) -> Target:
    """The credits the buyer should hold for a payment that sold `credits` for `amount_cents`."""
    if not facts.paid or not facts.grants_credits or credits <= 0:
        return Target(0, None)
    captured = facts.captured
    if captured is None:
        return Target(0, "paid, but the amount paid is unknown")
    if captured.currency != currency.lower() or captured.amount < amount_cents:
        return Target(0, f"paid {captured.amount} {captured.currency} for {amount_cents} {currency.lower()}")
    base = facts.base or captured.base
    lost = min(base, facts.refunded + facts.disputed)
    if base <= 0 or lost >= base:
        return Target(0, None)
    return Target(credits - credits * lost // base, None)
