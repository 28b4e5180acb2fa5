"""What billing needs from the outside: a payment gateway, a webhook verifier, and storage."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class CheckoutRequest:
    mode: str  # "payment" (a pack) | "subscription" (a plan)
    user_id: str  # also sent as client_reference_id
    customer_email: str
    customer_id: str | None  # the user's Stripe customer id when we know one
    price_id: str | None  # Stripe price id (plans; packs when configured)
    product_name: str  # used with amount/currency as price_data when price_id is None
    amount_cents: int
    currency: str  # lower-case 3 letters
    success_url: str
    cancel_url: str
    # {"payment_id", "user_id", "pack_id" | "plan_id"}: the gateway puts it on the session AND on
    # payment_intent_data / subscription_data
    metadata: Mapping[str, str]
    idempotency_key: str


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    customer_id: str | None
    payment_intent_id: str | None


@dataclass(frozen=True)
class RefundResult:
    id: str
    amount_cents: int
    status: str


class PaymentGateway(Protocol):
    """The payment provider. Every method turns SDK/network errors into PaymentProviderUnavailable
    (timeouts, connection errors, 5xx, 429) or PaymentProviderError (4xx)."""

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession: ...

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """The portal URL."""

    def cancel_subscription_at_period_end(self, subscription_id: str) -> Mapping[str, Any]:
        """The subscription as a dict."""

    def retrieve_subscription(self, subscription_id: str) -> Mapping[str, Any]: ...

    def cancel_subscription_now(self, subscription_id: str) -> None:
        """End the subscription at once, without proration (account erasure); done already is fine."""

    def delete_customer(self, customer_id: str) -> None:
        """Ask the provider to delete the customer and its personal data (account erasure; the
        provider keeps what its own legal duties require); deleted already is fine."""

    def refund(self, *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str) -> RefundResult: ...

    def list_events(
        self, *, created_after: datetime, types: Sequence[str] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Stripe event dicts (plain dicts, oldest first), all pages."""


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature_header: str) -> Mapping[str, Any]:
        """The verified event as a plain dict; raises InvalidSignature (bad/missing/stale) or InvalidEvent."""


# --- storage (not part of the Stripe contract) -------------------------------------------------
from domain.billing.model import Payment, ProviderEvent, Reversal, Subscription  # noqa: E402
from domain.ledger.budgets import BudgetRepository  # noqa: E402
from domain.ledger.ports import LedgerRepository  # noqa: E402
from domain.shared.uow import UnitOfWork  # noqa: E402


class BillingRepository(Protocol):
    """Billing's records. Getters return copies; `for_update=True` locks the row until the unit
    of work ends (SELECT ... FOR UPDATE on MariaDB; the memory and SQLite stores serialise writers).
    `add_*` raises DuplicateRecord when a unique key is taken (an event id, a session id...)."""

    def add_payment(self, payment: Payment) -> None: ...
    def update_payment(self, payment: Payment) -> None: ...
    def get_payment(self, payment_id: str, *, for_update: bool = False) -> Payment | None: ...
    def payment_by(self, field: str, value: str, *, for_update: bool = False) -> Payment | None:
        """The payment whose `field` (session_id, payment_intent_id, invoice_id, charge_id) is `value`."""

    def payments_with_shortfall(self, *, limit: int) -> list[Payment]:
        """Payments whose ledger holds more than their target (credits spent or held): retried."""

    def payment_by_checkout_key(self, user_id: str, key: str) -> Payment | None: ...
    def open_plan_payment(self, subscription_id: str) -> Payment | None:
        """The checkout payment of a subscription that no invoice has claimed yet."""

    def list_payments(self, user_id: str, *, limit: int, before_id: str | None = None) -> list[Payment]:
        """The user's payments, newest first (id descending), with id < before_id when given."""

    def payments_updated_since(self, since: datetime, *, limit: int) -> list[Payment]: ...

    def add_event(self, event: ProviderEvent) -> None: ...
    def get_event(self, event_id: str, *, for_update: bool = False) -> ProviderEvent | None: ...
    def update_event(self, event: ProviderEvent) -> None: ...
    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]: ...
    def events_of(self, payment_id: str) -> list[ProviderEvent]:
        """Every event attached to the payment (its target is computed from all of them)."""

    def events_awaiting(self, keys: Collection[str]) -> list[ProviderEvent]:
        """Unattached events waiting for one of these provider ids ("pi:<id>", "ch:<id>", ...)."""

    def unfinished_events(self, *, received_before: datetime, limit: int) -> list[ProviderEvent]:
        """Events `failed` or `pending`, and events still `received` that arrived before `received_before`
        (their handling job never ran: the queue was down when they were stored), by id."""

    def get_subscription(self, user_id: str, *, for_update: bool = False) -> Subscription | None: ...
    def subscription_by_provider_id(self, provider_id: str) -> Subscription | None: ...
    def subscriptions_renewing(
        self, after: datetime, until: datetime, *, after_user: str | None, limit: int
    ) -> list[Subscription]:
        """Active or trialing subscriptions not set to cancel whose period ends in (after, until],
        by user id, user ids > after_user (a page of the daily renewal notice)."""

    def save_subscription(self, subscription: Subscription) -> None:
        """Insert or replace the user's one subscription."""

    def add_reversal(self, reversal: Reversal) -> None: ...
    def update_reversal(self, reversal: Reversal) -> None: ...
    def pending_reversals(self, payment_id: str) -> list[Reversal]: ...
    def reversals_of(self, payment_id: str) -> list[Reversal]: ...
    def with_pending_reversals(self, payment_ids: Collection[str]) -> set[str]: ...

    def customer_id(self, user_id: str) -> str | None: ...
    def user_of_customer(self, customer_id: str) -> str | None: ...
    def set_customer_id(self, user_id: str, customer_id: str) -> None: ...


class UserRecord(Protocol):
    id: str
    email: str
    plan: str


class UserPlans(Protocol):
    """The slice of identity's user storage billing needs: who pays, and which plan they are on."""

    def get(self, user_id: str) -> Any: ...
    def update(self, user: Any) -> None: ...


class BillingUnitOfWork(UnitOfWork, Protocol):
    """Billing's records and the ledger in one transaction: a payment converges and its ledger
    move commits together."""

    @property
    def billing(self) -> BillingRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def budgets(self) -> BudgetRepository: ...  # the ledger's Book needs it (issue 23); billing spends no budget
    @property
    def users(self) -> UserPlans: ...
