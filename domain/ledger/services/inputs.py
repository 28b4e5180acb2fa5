"""The ledger's input checks and limits, defined once (the HTTP schemas import the limits)."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from domain.ledger.model import EntryKind, GrantSource
from domain.shared.errors import InvalidInput

MAX_CREDITS = 10**12  # far above any real grant, far below BIGINT
MAX_QUANTITY = 10**6
MAX_KEY_LENGTH = 255  # an Idempotency-Key: 1-255 printable ASCII characters
MAX_REFERENCE_LENGTH = 255


def check_key(key: str) -> None:
    if not (1 <= len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            details={"Idempotency-Key": "1-255 printable ASCII characters."},
        )


def check_amount(amount: int) -> None:
    if not 1 <= amount <= MAX_CREDITS:
        raise InvalidInput("amount must be a positive whole number of credits.", details={"amount": "1 or more."})


def check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput("quantity is out of range.", details={"quantity": f"Between 1 and {MAX_QUANTITY}."})


def fingerprint(operation: str, args: dict[str, Any]) -> str:
    """What a request was, so that a replayed key can tell the same request from another one."""
    canonical = json.dumps({"op": operation, **args}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def scoped_key(scope: str, key: str) -> str:
    """A caller's Idempotency-Key inside one account's key space, apart from other callers' keys
    (an admin's "abc" must not replay the user's own "abc"). Long keys are hashed to fit."""
    scoped = f"{scope}:{key}"
    if len(scoped) <= MAX_KEY_LENGTH:
        return scoped
    return f"{scope}:#{hashlib.sha256(key.encode()).hexdigest()}"


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
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidInput("month must look like 2026-11.", details={"month": "Use YYYY-MM."}) from None
    try:
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    except ValueError:  # December 9999 has no next month
        raise InvalidInput("month is out of range.", details={"month": "Out of range."}) from None
    return start, end
