"""Errors of the billing domain. Gateways and verifiers raise the provider ones; nothing above an
adapter ever sees a provider SDK exception."""

from __future__ import annotations

from typing import Any

from domain.shared.errors import DomainError, InvalidInput, NotFound


class PaymentProviderUnavailable(DomainError):
    """The provider did not answer usefully (timeout, connection error, 5xx, 429): try again later.

    HTTP 503 with Retry-After."""

    code = "payment_provider_unavailable"

    def __init__(
        self,
        message: str = "The payment provider is unavailable.",
        *,
        details: dict[str, Any] | None = None,
        retry_after: int = 30,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class PaymentProviderError(DomainError):
    """The provider answered and said no (a 4xx). HTTP 502."""

    code = "payment_provider_unavailable"

    def __init__(
        self, message: str = "The payment provider refused the request.", *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)


class InvalidSignature(DomainError):
    """A webhook whose signature is missing, wrong or too old. HTTP 400."""

    code = "invalid_signature"

    def __init__(self, message: str = "Invalid webhook signature.", *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)


class InvalidEvent(DomainError):
    """A correctly signed payload that is not a Stripe event. HTTP 400."""

    code = "bad_request"

    def __init__(self, message: str = "Not a valid event.", *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)


class UnknownCatalogueItem(InvalidInput):
    """A pack or plan id that is not in the catalogue (or no longer on sale)."""

    def __init__(self, field: str, item_id: str) -> None:
        super().__init__(f"Unknown {field} {item_id!r}.", details={field: "Not in the catalogue."})


class PaymentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such payment.")


class SubscriptionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No subscription.")
