"""Errors the domain raises. Each carries a stable `code`; the HTTP layer maps classes to statuses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a rule; `details` maps fields to messages."""

    code = "validation_error"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class DuplicateRecord(Conflict):
    """A unique constraint refused a write (raised by storage adapters)."""

    code = "conflict"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class TransientError(DomainError):
    """Storage contention (deadlock, lock wait timeout, busy database): safe to retry the unit of work."""

    code = "service_unavailable"


class Unavailable(DomainError):
    """A dependency did not answer; nothing was changed."""

    code = "service_unavailable"


class OutcomeUnknown(DomainError):
    """The connection was lost while COMMIT was on its way: the work may or may not have been
    committed. The ledger resolves it by its idempotency key before answering (`book.once`);
    raised to a caller only when even that lookup cannot reach the database, so the answer says
    "unknown, retry with the same key" instead of claiming that nothing happened."""

    code = "outcome_unknown"
