"""The ledger's input checks and limits, defined once (the HTTP schemas import the limits); the
Idempotency-Key checks and forms are domain.shared.idempotency's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.ledger.model import EntryKind, GrantSource
from domain.shared.errors import InvalidInput
from domain.shared.idempotency import MAX_KEY_LENGTH as MAX_KEY_LENGTH  # re-exported for the ledger's callers
from domain.shared.idempotency import check_key as check_key
from domain.shared.idempotency import fingerprint as request_fingerprint
from domain.shared.idempotency import scoped_key as scoped_key

MAX_CREDITS = 10**12  # far above any real grant, far below BIGINT
MAX_QUANTITY = 10**6
MAX_REFERENCE_LENGTH = 255


def check_amount(amount: int) -> None:
    if not 1 <= amount <= MAX_CREDITS:
        raise InvalidInput("amount must be a positive whole number of credits.", details={"amount": "1 or more."})


def check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput("quantity is out of range.", details={"quantity": f"Between 1 and {MAX_QUANTITY}."})


def fingerprint(operation: str, args: dict[str, Any]) -> str:
    """What a ledger request was: the operation and its arguments (domain.shared.idempotency)."""
    return request_fingerprint({"op": operation, **args})


def grant_source(source: GrantSource | str) -> GrantSource:
    try:
        return GrantSource(source)
    except ValueError:
        raise InvalidInput(f"Unknown grant source {source!r}.", details={"source": "Unknown source."}) from None


def entry_kind(kind: EntryKind | str | None) -> EntryKind | None:
    if kind is None:
        return None
    try:
        return EntryKind(kind)
    except ValueError:
        raise InvalidInput(f"Unknown kind {kind!r}.", details={"kind": "Unknown kind."}) from None


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("month must look like 2026-11.", details={"month": "Use YYYY-MM."}) from None
    try:
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    except ValueError:  # December 9999 has no next month
        raise InvalidInput("month is out of range.", details={"month": "Out of range."}) from None
    return start, end
