"""What billing needs from the outside: a payment gateway, a webhook verifier, and storage."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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

    def refund(self, *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str) -> RefundResult: ...

    def list_events(
        self, *, created_after: datetime, types: Sequence[str] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Stripe event dicts (plain dicts, oldest first), all pages."""


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature_header: str) -> Mapping[str, Any]:
        """The verified event as a plain dict; raises InvalidSignature (bad/missing/stale) or InvalidEvent."""
