"""The SQL billing repository: Core statements, explicit mapping, row locks for `for_update`.

Rows map to the dataclasses field by field (column names equal field names), so the mapping is
generic: enums are stored as their values and rebuilt from the field's type.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Row, Table, delete, insert, select, update

from adapters.sql.tables import (
    billing_customers,
    billing_events,
    billing_payments,
    billing_reversals,
    billing_subscriptions,
)
from domain.billing.model import (
    EventStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    ProviderEvent,
    Reversal,
    ReversalStatus,
    Subscription,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from adapters.sql.db import Db

T = TypeVar("T")
P, EV, S, R, C = billing_payments.c, billing_events.c, billing_subscriptions.c, billing_reversals.c, billing_customers.c
_STATUS = {
    Payment: PaymentStatus,
    ProviderEvent: EventStatus,
    Subscription: SubscriptionStatus,
    Reversal: ReversalStatus,
}
_LOOKUP = {
    "session_id": P.session_id,
    "payment_intent_id": P.payment_intent_id,
    "invoice_id": P.invoice_id,
    "charge_id": P.charge_id,
    "plan_slot": P.plan_slot,
}


def _values(record: Any) -> dict[str, Any]:
    values = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, (PaymentKind, PaymentStatus, EventStatus, SubscriptionStatus, ReversalStatus)):
            value = value.value  # StrEnum: store the plain string
        elif isinstance(value, bool):
            value = int(value)
        values[f.name] = value
    return values


def _record(cls: type[T], row: Row[Any]) -> T:
    data = dict(row._mapping)
    if "status" in data:
        data["status"] = _STATUS[cls](data["status"])
    if cls is Payment:
        data["kind"] = PaymentKind(data["kind"])
    if cls is Subscription:
        data["cancel_at_period_end"] = bool(data["cancel_at_period_end"])
    return cls(**data)


class SqlBillingRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def _one(self, cls: type[T], table: Table, where: Any, for_update: bool = False) -> T | None:
        statement = select(table).where(where)
        if for_update:
            statement = statement.with_for_update()
        row = self._db.execute(statement).first()
        return _record(cls, row) if row is not None else None

    def _many(self, cls: type[T], statement: Any) -> list[T]:
        return [_record(cls, row) for row in self._db.execute(statement)]

    # --- payments --------------------------------------------------------------------------
    def add_payment(self, payment: Payment) -> None:
        self._db.execute(insert(billing_payments).values(_values(payment)))

    def update_payment(self, payment: Payment) -> None:
        self._db.execute(update(billing_payments).where(P.id == payment.id).values(_values(payment)))

    def get_payment(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        return self._one(Payment, billing_payments, P.id == payment_id, for_update)

    def payment_by(self, field: str, value: str, *, for_update: bool = False) -> Payment | None:
        return self._one(Payment, billing_payments, _LOOKUP[field] == value, for_update)

    def payment_by_checkout_key(self, user_id: str, key: str) -> Payment | None:
        return self._one(Payment, billing_payments, (P.user_id == user_id) & (P.checkout_key == key))

    def open_plan_payment(self, subscription_id: str) -> Payment | None:
        statement = (
            select(billing_payments)
            .where(P.subscription_id == subscription_id, P.invoice_id.is_(None))
            .order_by(P.id)
            .limit(1)
            .with_for_update()
        )
        found = self._many(Payment, statement)
        return found[0] if found else None

    def list_payments(self, user_id: str, *, limit: int, before_id: str | None = None) -> list[Payment]:
        statement = select(billing_payments).where(P.user_id == user_id)
        if before_id is not None:
            statement = statement.where(P.id < before_id)
        return self._many(Payment, statement.order_by(P.id.desc()).limit(limit))

    def payments_updated_since(self, since: datetime, *, limit: int) -> list[Payment]:
        statement = select(billing_payments).where(P.updated_at >= since).order_by(P.id).limit(limit)
        return self._many(Payment, statement)

    def payments_with_shortfall(self, *, limit: int) -> list[Payment]:
        return self._many(Payment, select(billing_payments).where(P.shortfall > 0).order_by(P.id).limit(limit))

    # --- events ----------------------------------------------------------------------------
    def events_of(self, payment_id: str) -> list[ProviderEvent]:
        # Locking reads: they see what committed after this transaction's snapshot (an event a
        # concurrent delivery attached or left pending a moment ago), not the snapshot.
        statement = select(billing_events).where(EV.payment_id == payment_id).order_by(EV.id).with_for_update()
        return self._many(ProviderEvent, statement)

    def events_awaiting(self, keys: Collection[str]) -> list[ProviderEvent]:
        if not keys:
            return []
        statement = (
            select(billing_events)
            .where(EV.awaiting.in_(list(keys)), EV.payment_id.is_(None))
            .order_by(EV.id)
            .with_for_update()
        )
        return self._many(ProviderEvent, statement)

    def add_event(self, event: ProviderEvent) -> None:
        self._db.execute(insert(billing_events).values(_values(event)))

    def get_event(self, event_id: str, *, for_update: bool = False) -> ProviderEvent | None:
        return self._one(ProviderEvent, billing_events, EV.id == event_id, for_update)

    def update_event(self, event: ProviderEvent) -> None:
        self._db.execute(update(billing_events).where(EV.id == event.id).values(_values(event)))

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        rows = self._db.execute(select(EV.id).where(EV.id.in_(list(event_ids))))
        return {row.id for row in rows}

    def unfinished_events(self, *, received_before: datetime, limit: int) -> list[ProviderEvent]:
        stuck = (EV.status == EventStatus.RECEIVED.value) & (EV.received_at < received_before)
        retry = EV.status.in_([EventStatus.FAILED.value, EventStatus.PENDING.value])
        statement = select(billing_events).where(retry | stuck).order_by(EV.id).limit(limit)
        return self._many(ProviderEvent, statement)

    # --- subscriptions ---------------------------------------------------------------------
    def get_subscription(self, user_id: str, *, for_update: bool = False) -> Subscription | None:
        return self._one(Subscription, billing_subscriptions, S.user_id == user_id, for_update)

    def subscription_by_provider_id(self, provider_id: str) -> Subscription | None:
        return self._one(Subscription, billing_subscriptions, S.provider_id == provider_id)

    def subscriptions_renewing(
        self, after: datetime, until: datetime, *, after_user: str | None, limit: int
    ) -> list[Subscription]:
        query = (
            select(billing_subscriptions)
            .where(
                S.current_period_end > after,
                S.current_period_end <= until,
                S.cancel_at_period_end == 0,
                S.status.in_([SubscriptionStatus.ACTIVE.value, SubscriptionStatus.TRIALING.value]),
            )
            .order_by(S.user_id)
            .limit(limit)
        )
        if after_user is not None:
            query = query.where(S.user_id > after_user)
        return [_record(Subscription, row) for row in self._db.execute(query)]

    def save_subscription(self, subscription: Subscription) -> None:
        values = _values(subscription)
        changed = self._db.execute(
            update(billing_subscriptions).where(S.user_id == subscription.user_id).values(values)
        ).rowcount
        if not changed:
            self._db.execute(insert(billing_subscriptions).values(values))

    # --- reversals -------------------------------------------------------------------------
    def add_reversal(self, reversal: Reversal) -> None:
        self._db.execute(insert(billing_reversals).values(_values(reversal)))

    def update_reversal(self, reversal: Reversal) -> None:
        self._db.execute(update(billing_reversals).where(R.id == reversal.id).values(_values(reversal)))

    def pending_reversals(self, payment_id: str) -> list[Reversal]:
        statement = (
            select(billing_reversals)
            .where(R.payment_id == payment_id, R.status == ReversalStatus.PENDING.value)
            .order_by(R.id)
        )
        return self._many(Reversal, statement)

    def with_pending_reversals(self, payment_ids: Collection[str]) -> set[str]:
        if not payment_ids:
            return set()
        statement = (
            select(R.payment_id)
            .where(R.payment_id.in_(list(payment_ids)), R.status == ReversalStatus.PENDING.value)
            .distinct()
        )
        return {str(row.payment_id) for row in self._db.execute(statement)}

    def reversals_of(self, payment_id: str) -> list[Reversal]:
        return self._many(Reversal, select(billing_reversals).where(R.payment_id == payment_id).order_by(R.id))

    # --- customers -------------------------------------------------------------------------
    def customer_id(self, user_id: str) -> str | None:
        row = self._db.execute(select(C.customer_id).where(C.user_id == user_id)).first()
        return str(row.customer_id) if row is not None else None

    def user_of_customer(self, customer_id: str) -> str | None:
        row = self._db.execute(select(C.user_id).where(C.customer_id == customer_id)).first()
        return str(row.user_id) if row is not None else None

    def set_customer_id(self, user_id: str, customer_id: str) -> None:
        self._db.execute(delete(billing_customers).where(C.user_id == user_id))
        self._db.execute(insert(billing_customers).values(user_id=user_id, customer_id=customer_id))
