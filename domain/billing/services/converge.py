"""A payment converges: its credits follow from everything known about it.

Every event that concerns a payment (its checkout session, its charge, refunds, disputes, its
invoice) is *attached* to it; one that cannot be placed yet (a refund before the checkout that
tells us the payment intent) is left `pending` with the provider id it waits for, and is attached
as soon as a payment learns that id. Then, in ONE unit of work with the payment's row locked:

1. fold every attached event into `Facts` (domain/billing/convergence.py) and compute the target;
2. move the ledger by `target - credits_held` in the same transaction (the account locked after the
   payment, always in that order), with the ledger key `billing:<payment>:<ledger_version + 1>`;
   a take-back never touches credits that are spent or held: what it could not take is the
   payment's `shortfall`, taken when a later converge finds them (a hold released, credits back);
3. write the payment (status, refunded, held, shortfall, version) and the events' attachment.

Because steps 1-3 commit together there is no crash window between "asked" and "applied", and
because the target is a function of the *set* of events, the same events in any order, any number
of times, from any number of workers end in the same state. `_payment_changed` is the one place
where a payment's converged state changes: later hooks (outgoing webhooks, referrals) go there.

| step                       | key                              | what finishes it                     |
| -------------------------- | -------------------------------- | ------------------------------------ |
| store the event            | the provider's event id          | the webhook retry; reconciliation    |
| attach + converge + ledger | `billing:<payment>:<version>`    | the job's retry; reconciliation retries failed and pending events, and converges payments with a shortfall |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.billing import convergence as c
from domain.billing import objects as o
from domain.billing.model import EventStatus, Payment, PaymentKind, PaymentStatus, ProviderEvent
from domain.billing.ports import BillingUnitOfWork
from domain.billing.services.base import locked_payment
from domain.billing.services.events import Outcome
from domain.billing.services.handlers import PaymentNotYetKnown, _done
from domain.ledger.model import EntryKind, GrantSource, consumption_order
from domain.ledger.ports import CreditBooking
from domain.ledger.results import Movement
from domain.ledger.services.book import Book
from domain.platform import emitters  # issue 22: events to webhooks and notifications
from domain.shared.clock import Clock
from domain.shared.purchase_hooks import NoPurchaseHooks, PurchaseHooks
from domain.shared.uow import transaction

_REVERSED = {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED}
_KEYS = {"session_id": "cs", "payment_intent_id": "pi", "charge_id": "ch", "invoice_id": "in"}
_REF_FIELDS = {
    "payment_intent": "payment_intent_id",
    "charge": "charge_id",
    "customer": "customer_id",
    "card_fingerprint": "card_fingerprint",
}
_PLAN_REF_FIELDS = {"subscription": "subscription_id", "invoice": "invoice_id"}


def awaiting_keys(payment: Payment) -> set[str]:
    return {f"{prefix}:{getattr(payment, name)}" for name, prefix in _KEYS.items() if getattr(payment, name)}


class Convergence:
    """Events that concern a payment attach to it, and the payment converges on its target."""

    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        ledger: CreditBooking,
        purchase_hooks: PurchaseHooks | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ledger = ledger
        self.purchase_hooks: PurchaseHooks = purchase_hooks or NoPurchaseHooks()  # referrals (issue 24)

    # --- events that concern a payment ------------------------------------------------------
    def on_payment_event(self, event: Mapping[str, Any]) -> Outcome:
        """Attach the event to its payment and converge it; or leave it pending.

        Two writers meet here without gap locks (MariaDB runs READ COMMITTED): this event, which
        names an id (a payment intent, a charge…) no payment has yet, and a convergence that is
        learning that id. Each publishes first and looks second: this side commits the pending
        event, then looks for the payment by the id with a locking read; the convergence writes
        the id onto the payment (`_attach_and_fold`), then looks for pending events awaiting it
        with a locking read. Whichever looks second sees the other's write, or waits for its
        commit on the row lock, so the event is never left pending beside a payment that knows
        its id. (Before, the convergence wrote the id only at its end: a refund delivered with its
        checkout's completion stayed pending for good, found on MariaDB with real threads,
        tests/integration/test_referral_convergence_mariadb.py.) The event row is read with a lock,
        so a pending write never overwrites an attachment a concurrent convergence just made."""
        event_id = str(event["id"])

        converged: list[Payment] = []  # the payment as committed, for the hooks after the commit

        def attempt(uow: BillingUnitOfWork, write_pending: bool) -> Outcome | None:
            converged.clear()
            payment = self._place(uow, event)
            stored = uow.billing.get_event(event_id, for_update=True)
            if stored is None:
                raise PaymentNotYetKnown(f"event {event_id} is not stored")
            if payment is None and stored.payment_id is not None:  # a convergence placed it meanwhile
                return _done("placed by its payment's convergence")
            if payment is None:
                if not write_pending:
                    return None
                stored.awaiting = _awaited(event)
                stored.status, stored.note = EventStatus.PENDING, f"waiting for {stored.awaiting}"[:255]
                if event["type"] in c.CARD_EVENTS:  # perhaps never ours: not retried, attached if it is
                    stored.status, stored.note = (
                        EventStatus.IGNORED,
                        f"no payment yet; attached on {stored.awaiting}"[:255],
                    )
                uow.billing.update_event(stored)
                return None
            if stored.payment_id is None:
                stored.payment_id, stored.awaiting = payment.id, None
                uow.billing.update_event(stored)
            done = self._converge_locked(uow, payment)
            converged.append(done)  # read after the commit: a failed try clears it
            return _done(f"payment {done.status.value}, holds {done.credits_held} credits")

        outcome = transaction(self._uow, lambda uow: attempt(uow, True)) or transaction(
            self._uow, lambda uow: attempt(uow, False)
        )
        for payment in converged:
            self._tell_purchase_hooks(payment)
        if outcome is None and event["type"] in c.CARD_EVENTS:
            return EventStatus.IGNORED, f"no payment yet; attached on {_awaited(event)}"[:255]
        return outcome or (EventStatus.PENDING, f"waiting for {_awaited(event)}"[:255])

    def converge(self, payment_id: str) -> Payment:
        """Converge one payment now (reconciliation, admin tools, tests)."""

        converged = transaction(self._uow, lambda uow: self._converge_locked(uow, locked_payment(uow, payment_id)))
        self._tell_purchase_hooks(converged)
        return converged

    def _tell_purchase_hooks(self, payment: Payment) -> None:
        """After the commit, from the converged state (never from one event): referrals (issue 24)
        hear of a paid purchase and of one refunded or disputed. Every hook is idempotent and is
        told again at each convergence; an exception fails the event, which the queue retries.

        A payment refunded or disputed was paid first, and the hooks always hear both, in that
        order, whatever order the events came in: a refund that converged before any thread told
        "paid" would otherwise find nothing to void, and a "paid" told late by a slower thread
        would start a bonus for a refunded purchase (found on MariaDB with real threads,
        tests/integration/test_referral_convergence_mariadb.py). `paid` only ever moves a referral
        forward once, so a late or repeated one is a no-op after `reversed`."""
        if payment.settled:
            self.purchase_hooks.paid(
                payment.id, payment.user_id, payment.customer_id, payment.amount_cents, payment.card_fingerprint
            )
        if payment.refunded_cents > 0 or payment.status in _REVERSED:
            self.purchase_hooks.reversed(payment.id)

    def _place(self, uow: BillingUnitOfWork, event: Mapping[str, Any]) -> Payment | None:
        """The payment the event concerns, locked; None when no payment of ours is known for it yet."""
        kind, obj = str(event["type"]), o.obj(event)
        if kind in c.SESSION_EVENTS:
            return self._session_payment(uow, obj)
        if kind in ("invoice.paid", "invoice_payment.paid"):
            invoice_id = o.text(obj, "id") if kind == "invoice.paid" else o.text(obj, "invoice")
            return uow.billing.payment_by("invoice_id", invoice_id, for_update=True) if invoice_id else None
        charge_id = o.text(obj, "id") if kind in c.CHARGE_EVENTS + c.CARD_EVENTS else o.text(obj, "charge")
        intent = o.text(obj, "payment_intent")
        payment = uow.billing.payment_by("payment_intent_id", intent, for_update=True) if intent else None
        if payment is None and charge_id:
            payment = uow.billing.payment_by("charge_id", charge_id, for_update=True)
        return payment

    def _session_payment(self, uow: BillingUnitOfWork, session: Mapping[str, Any]) -> Payment | None:
        session_id = o.text(session, "id") or ""
        payment = uow.billing.payment_by("session_id", session_id, for_update=True)
        if payment is None:  # our session id never got saved (a crash after the provider answered)
            meta = o.metadata(session)
            candidate = uow.billing.get_payment(meta.get("payment_id", ""), for_update=True)
            if (
                candidate is not None
                and candidate.session_id is None
                and candidate.user_id == o.text(session, "client_reference_id")
            ):
                candidate.session_id = session_id
                payment = candidate
        return payment

    # --- the convergence --------------------------------------------------------------------
    def _converge_locked(self, uow: BillingUnitOfWork, payment: Payment) -> Payment:
        before = replace(payment)
        facts = self._attach_and_fold(uow, payment)
        sold = payment.credits
        goal = c.target(credits=sold, amount_cents=payment.amount_cents, currency=payment.currency, facts=facts)
        expires_at = None
        if payment.kind is PaymentKind.PLAN and goal.credits > 0 and payment.grant_id is None:
            expires_at = facts.period_end or self._period_end(uow, payment.subscription_id)
            if expires_at is None:  # plan credits always expire: never grant them forever by accident
                raise PaymentNotYetKnown(f"payment {payment.id}: no service period known for its invoice")
        self._status(payment, facts)
        payment.review = goal.review
        payment.refunded_cents = facts.refunded
        payment.reversal_target = sold - goal.credits if facts.paid else 0
        self._move(uow, payment, goal.credits, expires_at)
        payment.updated_at = self._clock.now()
        uow.billing.update_payment(payment)
        if payment.customer_id and uow.billing.customer_id(payment.user_id) is None:
            uow.billing.set_customer_id(payment.user_id, payment.customer_id)
        self._payment_changed(uow, before, payment)
        return payment

    def _attach_and_fold(self, uow: BillingUnitOfWork, payment: Payment) -> c.Facts:
        """Attach the pending events this payment's ids answer, learn new ids from them, repeat."""
        for _ in range(4):  # session -> payment intent -> charge: a chain is never longer
            waiting = uow.billing.events_awaiting(awaiting_keys(payment))
            for event in waiting:
                event.payment_id, event.awaiting = payment.id, None
                event.status, event.note = EventStatus.PROCESSED, "placed once its payment was known"
                event.handled_at = self._clock.now()
                uow.billing.update_event(event)
            facts = c.fold(_payloads(uow.billing.events_of(payment.id)))
            learnt = self._link(payment, facts)
            if not learnt:
                return facts
            uow.billing.update_payment(payment)  # publish the ids learnt before looking for their events
        return facts

    def _link(self, payment: Payment, facts: c.Facts) -> bool:
        fields = dict(_REF_FIELDS, **(_PLAN_REF_FIELDS if payment.kind is PaymentKind.PLAN else {}))
        learnt = False
        for ref, name in fields.items():
            value = facts.refs.get(ref)
            if value and getattr(payment, name) is None:
                setattr(payment, name, value)
                learnt = learnt or name in ("payment_intent_id", "charge_id", "invoice_id")
        return learnt

    def _status(self, payment: Payment, facts: c.Facts) -> None:
        if not facts.paid:
            if facts.ended and payment.status is PaymentStatus.PENDING:
                payment.status = PaymentStatus(facts.ended)
                payment.plan_slot = None  # a failed or expired plan checkout frees the user's one plan slot
            return
        payment.paid_at = payment.paid_at or self._clock.now()
        base = facts.base or 0
        if facts.dispute_open or (facts.disputed and facts.disputed + facts.refunded >= base):
            payment.status = PaymentStatus.DISPUTED
        elif facts.refunded and facts.refunded >= base:
            payment.status = PaymentStatus.REFUNDED
        elif facts.refunded:
            payment.status = PaymentStatus.PARTIALLY_REFUNDED
        else:
            payment.status = PaymentStatus.PAID

    def _period_end(self, uow: BillingUnitOfWork, subscription_id: str | None) -> datetime | None:
        found = uow.billing.subscription_by_provider_id(subscription_id) if subscription_id else None
        return found.current_period_end if found is not None else None

    def _move(self, uow: BillingUnitOfWork, payment: Payment, goal: int, expires_at: datetime | None) -> None:
        """Move the ledger by `goal - credits_held`, in this unit of work, under the account's lock."""
        delta = goal - payment.credits_held
        now = self._clock.now()
        if delta < 0 and payment.grant_expires_at is not None and payment.grant_expires_at <= now:
            payment.credits_held, payment.shortfall = goal, 0  # the period's credits expired: nothing is left to take
            return
        if delta == 0:
            payment.shortfall = 0
            return
        key = f"billing:{payment.id}:{payment.ledger_version + 1}"
        reference = f"payment:{payment.id}"
        moved = 0

        def work(book: Book) -> Movement:
            nonlocal moved
            if delta > 0:
                first = payment.grant_id is None
                ends = expires_at if first else payment.grant_expires_at
                if ends is not None and ends <= now:
                    return book.movement()  # the period is over: nothing to grant or give back
                source = (
                    (GrantSource.PURCHASE if payment.kind is PaymentKind.PACK else GrantSource.PLAN)
                    if first
                    else GrantSource.REFUND_RESTORE
                )
                movement = book.add_grant(source, delta, expires_at=ends, reference=reference)
                if first:
                    payment.grant_id, payment.grant_expires_at = movement.grant_id, ends
                moved = delta
                return movement
            entry = None
            mine = consumption_order([g for g in book.grants if g.reference == reference and g.remaining > 0])
            for n, grant in enumerate(mine):
                take = min(-delta + moved, grant.remaining, book.account.available)
                if take <= 0:
                    break
                entry = book.take_from(grant, take, EntryKind.REVERSAL, key=f"{key}:{n}", reference=reference)
                moved -= take
            return book.movement(entry, shortfall=-delta + moved)

        restoring = payment.grant_id is not None
        self._ledger.book_within(
            uow, payment.user_id, key=key, operation="billing", args={"payment": payment.id, "delta": delta}, work=work
        )
        payment.ledger_version += 1
        payment.credits_held += moved
        if moved < 0:
            payment.credits_reversed -= moved
        elif restoring:
            payment.credits_reversed = max(0, payment.credits_reversed - moved)
        payment.shortfall = max(0, payment.credits_held - goal)

    def _payment_changed(self, uow: BillingUnitOfWork, before: Payment, after: Payment) -> None:
        """The one place a payment's converged state changes, inside its unit of work. Hooks that
        must follow a payment (outgoing `payment.succeeded/refunded/failed`, a referral's first
        paid purchase and its refund or dispute) belong here, one line each, written to an outbox
        in this same transaction."""
        now = self._clock.now()
        if after.settled and not before.settled:  # issue 22: first time paid (late events may skip PAID)
            emitters.payment(uow, "payment.succeeded", after, now)
        if after.status is PaymentStatus.FAILED and before.status is not PaymentStatus.FAILED:
            emitters.payment(uow, "payment.failed", after, now)
        if after.refunded_cents > before.refunded_cents:
            emitters.payment(uow, "payment.refunded", after, now)


def _payloads(events: list[ProviderEvent]) -> list[Mapping[str, Any]]:
    return [json.loads(e.payload) for e in events]


def _awaited(event: Mapping[str, Any]) -> str:
    """The provider id a pending event waits for: its payment intent, else its charge, session or invoice."""
    kind, obj = str(event["type"]), o.obj(event)
    if kind in c.SESSION_EVENTS:
        return f"cs:{o.text(obj, 'id')}"
    if kind == "invoice.paid":
        return f"in:{o.text(obj, 'id')}"
    if kind == "invoice_payment.paid":
        return f"in:{o.text(obj, 'invoice')}"
    intent = o.text(obj, "payment_intent")
    if intent:
        return f"pi:{intent}"
    charge_id = o.text(obj, "id") if kind in c.CHARGE_EVENTS + c.CARD_EVENTS else o.text(obj, "charge")
    return f"ch:{charge_id}"
