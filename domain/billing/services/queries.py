"""What billing shows without changing anything: the catalogue, a checkout session's contents,
the user's subscription and payments, one payment, one stored provider event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.billing.catalogue import Catalogue, Pack, Plan
from domain.billing.errors import PaymentNotFound
from domain.billing.model import CheckoutDetails, Payment, ProviderEvent
from domain.billing.ports import BillingUnitOfWork
from domain.identity.model import FREE_PLAN
from domain.shared.pagination import Page, check_limit, id_cursor, id_position, page_of


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    plan_id: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool


class BillingQueries:
    def __init__(self, *, uow: Callable[[], BillingUnitOfWork], catalogue: Catalogue) -> None:
        self._uow = uow
        self._catalogue = catalogue

    # --- the catalogue -----------------------------------------------------------------------
    def plans(self) -> list[Plan]:
        return list(self._catalogue.plans)

    def packs(self) -> list[Pack]:
        return list(self._catalogue.packs)

    def checkout_details(self, session_id: str) -> CheckoutDetails | None:
        """What a Checkout session sells (the local fake checkout page shows it)."""
        with self._uow() as uow:
            payment = uow.billing.payment_by("session_id", session_id)
        if payment is None:
            return None
        return CheckoutDetails(
            session_id=session_id,
            payment_id=payment.id,
            user_id=payment.user_id,
            customer_email=payment.customer_email,
            kind=payment.kind.value,
            item_id=payment.item_id,
            item_name=payment.item_name,
            credits=payment.credits,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            status=payment.status.value,
            price_id=payment.price_id,
        )

    # --- the customer's account --------------------------------------------------------------
    def subscription(self, user_id: str) -> SubscriptionView:
        """The user's live subscription, or the free plan when there is none."""
        with self._uow() as uow:
            found = uow.billing.get_subscription(user_id)
        if found is None or not found.live:
            return SubscriptionView(FREE_PLAN, "active", None, False)
        return SubscriptionView(found.plan_id, found.status.value, found.current_period_end, found.cancel_at_period_end)

    def payments(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[Payment]:
        check_limit(limit)
        before = id_cursor(cursor)
        with self._uow() as uow:
            rows = uow.billing.list_payments(user_id, limit=limit + 1, before_id=before)
        return page_of(rows, limit, id_position)

    # --- admin and reconciliation -------------------------------------------------------------
    def payment(self, payment_id: str) -> Payment:
        with self._uow() as uow:
            found = uow.billing.get_payment(payment_id)
        if found is None:
            raise PaymentNotFound()
        return found

    def event(self, event_id: str) -> ProviderEvent | None:
        with self._uow() as uow:
            return uow.billing.get_event(event_id)
