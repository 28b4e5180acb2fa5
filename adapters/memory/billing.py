"""In-memory billing repository: copies in, copies out, the same unique keys as the SQL tables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.store import MemoryStore
from domain.billing.model import (
    EventStatus,
    Payment,
    ProviderEvent,
    Reversal,
    ReversalStatus,
    Subscription,
    SubscriptionStatus,
)
from domain.shared.errors import DuplicateRecord

PAYMENTS = "billing_payments"
EVENTS = "billing_events"
SUBSCRIPTIONS = "billing_subscriptions"
REVERSALS = "billing_reversals"
CUSTOMERS = "billing_customers"
_UNIQUE_PAYMENT_FIELDS = ("session_id", "payment_intent_id", "invoice_id", "plan_slot")
_LOOKUP_FIELDS = ("session_id", "payment_intent_id", "invoice_id", "charge_id", "plan_slot")


def _duplicate() -> DuplicateRecord:
    return DuplicateRecord("The record already exists.")


class InMemoryBillingRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    # --- payments --------------------------------------------------------------------------
    def add_payment(self, payment: Payment) -> None:
        if payment.id in self._t(PAYMENTS):
            raise _duplicate()
        self._check_unique(payment)
        self._t(PAYMENTS)[payment.id] = replace(payment)

    def update_payment(self, payment: Payment) -> None:
        if payment.id not in self._t(PAYMENTS):
            return
        self._check_unique(payment)
        self._t(PAYMENTS)[payment.id] = replace(payment)

    def _check_unique(self, payment: Payment) -> None:
        for other in self._t(PAYMENTS).values():
            if other.id == payment.id:
                continue
            for name in _UNIQUE_PAYMENT_FIELDS:
                value = getattr(payment, name)
                if value is not None and getattr(other, name) == value:
                    raise _duplicate()
            if payment.checkout_key is not None and (other.user_id, other.checkout_key) == (
                payment.user_id,
                payment.checkout_key,
            ):
                raise _duplicate()

    def get_payment(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        found = self._t(PAYMENTS).get(payment_id)
        return replace(found) if found is not None else None

    def payment_by(self, field: str, value: str, *, for_update: bool = False) -> Payment | None:
        if field not in _LOOKUP_FIELDS:
            raise ValueError(f"not a payment lookup field: {field}")
        return next((replace(p) for p in self._t(PAYMENTS).values() if getattr(p, field) == value), None)

    def payment_by_checkout_key(self, user_id: str, key: str) -> Payment | None:
        return next(
            (replace(p) for p in self._t(PAYMENTS).values() if (p.user_id, p.checkout_key) == (user_id, key)), None
        )

    def open_plan_payment(self, subscription_id: str) -> Payment | None:
        found = [p for p in self._t(PAYMENTS).values() if p.subscription_id == subscription_id and p.invoice_id is None]
        return replace(min(found, key=lambda p: p.id)) if found else None

    def list_payments(self, user_id: str, *, limit: int, before_id: str | None = None) -> list[Payment]:
        rows = [
            p for p in self._t(PAYMENTS).values() if p.user_id == user_id and (before_id is None or p.id < before_id)
        ]
        return [replace(p) for p in sorted(rows, key=lambda p: p.id, reverse=True)[:limit]]

    def payments_updated_since(self, since: datetime, *, limit: int) -> list[Payment]:
        rows = sorted((p for p in self._t(PAYMENTS).values() if p.updated_at >= since), key=lambda p: p.id)
        return [replace(p) for p in rows[:limit]]

    def payments_with_shortfall(self, *, limit: int) -> list[Payment]:
        rows = sorted((p for p in self._t(PAYMENTS).values() if p.shortfall > 0), key=lambda p: p.id)
        return [replace(p) for p in rows[:limit]]

    # --- events ----------------------------------------------------------------------------
    def events_of(self, payment_id: str) -> list[ProviderEvent]:
        rows = sorted((e for e in self._t(EVENTS).values() if e.payment_id == payment_id), key=lambda e: e.id)
        return [replace(e) for e in rows]

    def events_awaiting(self, keys: Collection[str]) -> list[ProviderEvent]:
        wanted = set(keys)
        rows = sorted(
            (e for e in self._t(EVENTS).values() if e.awaiting in wanted and e.payment_id is None), key=lambda e: e.id
        )
        return [replace(e) for e in rows]

    def add_event(self, event: ProviderEvent) -> None:
        if event.id in self._t(EVENTS):
            raise _duplicate()
        self._t(EVENTS)[event.id] = replace(event)

    def get_event(self, event_id: str, *, for_update: bool = False) -> ProviderEvent | None:
        found = self._t(EVENTS).get(event_id)
        return replace(found) if found is not None else None

    def update_event(self, event: ProviderEvent) -> None:
        if event.id in self._t(EVENTS):
            self._t(EVENTS)[event.id] = replace(event)

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        return {i for i in event_ids if i in self._t(EVENTS)}

    def unfinished_events(self, *, received_before: datetime, limit: int) -> list[ProviderEvent]:
        rows = sorted(
            (
                e
                for e in self._t(EVENTS).values()
                if e.status in (EventStatus.FAILED, EventStatus.PENDING)
                or (e.status is EventStatus.RECEIVED and e.received_at < received_before)
            ),
            key=lambda e: e.id,
        )
        return [replace(e) for e in rows[:limit]]

    # --- subscriptions ---------------------------------------------------------------------
    def get_subscription(self, user_id: str, *, for_update: bool = False) -> Subscription | None:
        found = self._t(SUBSCRIPTIONS).get(user_id)
        return replace(found) if found is not None else None

    def subscription_by_provider_id(self, provider_id: str) -> Subscription | None:
        return next((replace(s) for s in self._t(SUBSCRIPTIONS).values() if s.provider_id == provider_id), None)

    def subscriptions_renewing(
        self, after: datetime, until: datetime, *, after_user: str | None, limit: int
    ) -> list[Subscription]:
        renewing = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
        rows = sorted(
            (
                s
                for s in self._t(SUBSCRIPTIONS).values()
                if s.status in renewing
                and not s.cancel_at_period_end
                and s.current_period_end is not None
                and after < s.current_period_end <= until
                and (after_user is None or s.user_id > after_user)
            ),
            key=lambda s: s.user_id,
        )
        return [replace(s) for s in rows[:limit]]

    def save_subscription(self, subscription: Subscription) -> None:
        for other in self._t(SUBSCRIPTIONS).values():
            if other.provider_id == subscription.provider_id and other.user_id != subscription.user_id:
                raise _duplicate()
        self._t(SUBSCRIPTIONS)[subscription.user_id] = replace(subscription)

    # --- reversals -------------------------------------------------------------------------
    def add_reversal(self, reversal: Reversal) -> None:
        if reversal.id in self._t(REVERSALS):
            raise _duplicate()
        self._t(REVERSALS)[reversal.id] = replace(reversal)

    def update_reversal(self, reversal: Reversal) -> None:
        if reversal.id in self._t(REVERSALS):
            self._t(REVERSALS)[reversal.id] = replace(reversal)

    def pending_reversals(self, payment_id: str) -> list[Reversal]:
        return [r for r in self.reversals_of(payment_id) if r.status is ReversalStatus.PENDING]

    def with_pending_reversals(self, payment_ids: Collection[str]) -> set[str]:
        wanted = set(payment_ids)
        pending = (r for r in self._t(REVERSALS).values() if r.status is ReversalStatus.PENDING)
        return {r.payment_id for r in pending if r.payment_id in wanted}

    def reversals_of(self, payment_id: str) -> list[Reversal]:
        rows = sorted((r for r in self._t(REVERSALS).values() if r.payment_id == payment_id), key=lambda r: r.id)
        return [replace(r) for r in rows]

    # --- customers -------------------------------------------------------------------------
    def customer_id(self, user_id: str) -> str | None:
        found: str | None = self._t(CUSTOMERS).get(user_id)
        return found

    def user_of_customer(self, customer_id: str) -> str | None:
        return next((u for u, c in self._t(CUSTOMERS).items() if c == customer_id), None)

    def set_customer_id(self, user_id: str, customer_id: str) -> None:
        if self.user_of_customer(customer_id) not in (None, user_id):
            raise _duplicate()
        self._t(CUSTOMERS)[user_id] = customer_id
