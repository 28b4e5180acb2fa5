"""`PaymentGateway` over the official stripe package (`stripe.StripeClient`).

Decisions:
- The API version is pinned (`2026-07-29.dahlia`): the webhook handlers are written against its
  shapes, and the objects this gateway returns have the same shapes as the events.
- Timeouts and retries live on the client: a `RequestsClient` with a (connect, read) timeout and
  `max_network_retries`. The SDK retries connection errors, timeouts, 409 and 5xx with
  exponential backoff, and sends the same idempotency key on every retry (it makes one itself for
  POSTs without one), so a retried create is never done twice.
- Every SDK or network failure becomes a domain error here, and nothing above this module sees a
  stripe exception: no answer, a timeout, 429 or 5xx -> `PaymentProviderUnavailable` (503, try
  later); any other 4xx -> `PaymentProviderError` (502, the provider said no). Stripe's message
  goes to the log, not to the client: it can name our account or request ids.
- Results are converted to plain dicts (`to_dict`): StripeObjects do not behave as mappings.
- `STRIPE_API_BASE` points the client at a local fake (localstripe, or a test server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import stripe

from domain.billing.errors import PaymentProviderError, PaymentProviderUnavailable
from domain.billing.ports import CheckoutRequest, CheckoutSession, RefundResult

API_VERSION = "2026-07-29.dahlia"
# Worst case, a call takes (3 + 8) s twice plus a backoff of at most 1 s: ~23 s, inside gunicorn's
# 30 s worker timeout, so a silent Stripe is a 503 for the client, not a killed worker.
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 8.0
DEFAULT_RETRIES = 1
EVENT_TYPES_PER_REQUEST = 20  # Stripe's limit on `types[]`

log = logging.getLogger(__name__)
T = TypeVar("T")


class StripePaymentGateway:
    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_network_retries: int = DEFAULT_RETRIES,
    ) -> None:
        if not secret_key:
            raise ValueError("a Stripe secret key is required")
        base_addresses: dict[str, str] = {}
        if api_base:
            base_addresses = {"api": api_base.rstrip("/")}
        self._client = stripe.StripeClient(
            secret_key,
            stripe_version=API_VERSION,
            base_addresses=_any(base_addresses),
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=(connect_timeout, read_timeout)),
        )

    # --- PaymentGateway ----------------------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        session = self._call(
            "create a Checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                _any(checkout_params(request)), {"idempotency_key": request.idempotency_key}
            ),
        )
        return CheckoutSession(
            id=str(session["id"]),
            url=str(session.get("url") or ""),
            customer_id=_id_of(session.get("customer")),
            payment_intent_id=_id_of(session.get("payment_intent")),
        )

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        portal = self._call(
            "open the billing portal",
            lambda: self._client.v1.billing_portal.sessions.create({"customer": customer_id, "return_url": return_url}),
        )
        return str(portal["url"])

    def cancel_subscription_at_period_end(self, subscription_id: str) -> Mapping[str, Any]:
        subscription: dict[str, Any] = self._call(
            "cancel a subscription",
            lambda: self._client.v1.subscriptions.update(subscription_id, {"cancel_at_period_end": True}),
        )
        return subscription

    def cancel_subscription_now(self, subscription_id: str) -> None:
        current = self.retrieve_subscription(subscription_id)
        if current.get("status") in ("canceled", "incomplete_expired"):
            return
        self._call("cancel a subscription now", lambda: self._client.v1.subscriptions.cancel(subscription_id))

    def delete_customer(self, customer_id: str) -> None:
        """Stripe deletes the customer and cancels its subscriptions at once; a second delete
        of the same customer answers 404 (resource_missing), which means done."""
        try:
            self._client.v1.customers.delete(customer_id)
        except stripe.InvalidRequestError as error:
            if getattr(error, "code", None) == "resource_missing":
                return
            raise translate(error, "delete a customer") from None
        except stripe.StripeError as error:
            raise translate(error, "delete a customer") from None

    def retrieve_subscription(self, subscription_id: str) -> Mapping[str, Any]:
        subscription: dict[str, Any] = self._call(
            "read a subscription", lambda: self._client.v1.subscriptions.retrieve(subscription_id)
        )
        return subscription

    def refund(self, *, payment_intent_id: str, amount_cents: int | None, idempotency_key: str) -> RefundResult:
        params: dict[str, Any] = {"payment_intent": payment_intent_id}
        if amount_cents is not None:
            params["amount"] = amount_cents
        refund = self._call(
            "refund a payment",
            lambda: self._client.v1.refunds.create(_any(params), {"idempotency_key": idempotency_key}),
        )
        return RefundResult(id=str(refund["id"]), amount_cents=int(refund["amount"]), status=str(refund["status"]))

    def list_events(
        self, *, created_after: datetime, types: Sequence[str] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Every event created after `created_after`, oldest first, across all pages.

        Stripe lists newest first and pages with `starting_after`; the window of a reconciliation
        is days, so the pages are read in full and reversed (a few thousand small dicts)."""
        wanted = list(types or [])
        batches = [wanted[i : i + EVENT_TYPES_PER_REQUEST] for i in range(0, len(wanted), EVENT_TYPES_PER_REQUEST)]
        collected: dict[str, dict[str, Any]] = {}
        for batch in batches or [[]]:
            for item in self._call("list events", lambda: list(self._iter_events(created_after, batch))):
                collected[str(item["id"])] = item
        ordered = sorted(collected.values(), key=lambda e: int(e.get("created") or 0))
        return iter(ordered)

    # --- helpers -----------------------------------------------------------------------------

    def _iter_events(self, created_after: datetime, types: list[str]) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"created": {"gt": int(created_after.timestamp())}, "limit": 100}
        if types:
            params["types"] = types
        page = self._client.v1.events.list(_any(params))
        for item in page.auto_paging_iter():
            yield _plain(item)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except stripe.StripeError as error:
            raise translate(error, what) from None
        return _plain(result)


def checkout_params(request: CheckoutRequest) -> dict[str, Any]:
    """The Checkout Session parameters for a request: metadata on the session AND on the payment
    intent / subscription, so that charges, refunds and invoices can be traced back to us."""
    metadata = dict(request.metadata)
    if request.price_id:
        line_item: dict[str, Any] = {"price": request.price_id, "quantity": 1}
    else:
        price_data: dict[str, Any] = {
            "currency": request.currency,
            "unit_amount": request.amount_cents,
            "product_data": {"name": request.product_name},
        }
        if request.mode == "subscription":
            price_data["recurring"] = {"interval": "month"}
        line_item = {"price_data": price_data, "quantity": 1}
    params: dict[str, Any] = {
        "mode": request.mode,
        "line_items": [line_item],
        "client_reference_id": request.user_id,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": metadata,
    }
    if request.customer_id:
        params["customer"] = request.customer_id
    else:
        params["customer_email"] = request.customer_email
    if request.mode == "payment":
        params["payment_intent_data"] = {"metadata": metadata}
        if not request.customer_id:
            params["customer_creation"] = "always"  # a customer for the portal and for refunds
    else:
        params["subscription_data"] = {"metadata": metadata}
    return params


def translate(error: stripe.StripeError, what: str) -> PaymentProviderUnavailable | PaymentProviderError:
    """A stripe exception as a domain error: no answer, 429 or 5xx -> unavailable; other 4xx -> refused."""
    status = error.http_status
    log.warning(
        "stripe call failed",
        extra={
            "call": what,
            "http_status": status,
            "error_type": type(error).__name__,
            "stripe_code": getattr(error, "code", None),
            "stripe_message": error.user_message,
        },
    )
    if status is None or status == 429 or status >= 500 or isinstance(error, stripe.APIConnectionError):
        return PaymentProviderUnavailable(
            f"The payment provider did not answer while trying to {what}; nothing was recorded.",
        )
    return PaymentProviderError(
        f"The payment provider refused to {what}.",
        details={"provider_status": status, "provider_code": getattr(error, "code", None) or ""},
    )


def _any(params: dict[str, Any]) -> Any:
    """The SDK types its params as TypedDicts; ours are built as plain dicts."""
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, stripe.StripeObject):
        return value.to_dict(recursive=True, for_json=True)
    return value


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return str(value.get("id")) if value.get("id") else None
    return str(value)
