"""The credits ledger: accounts, grants, entries, allocations and holds. Pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.ledger.errors import InsufficientCredits, UnknownFeature
from domain.shared.errors import InvalidInput


class LedgerInvariantBroken(Exception):
    """Raised instead of writing an account that breaks an invariant (see Account.ensure_sound)."""


class EntryKind(StrEnum):
    GRANT = "grant"
    PURCHASE = "purchase"
    CHARGE = "charge"
    REFUND = "refund"
    EXPIRY = "expiry"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"


class GrantSource(StrEnum):
    PLAN = "plan"
    PURCHASE = "purchase"
    REFERRAL = "referral"
    ADMIN = "admin"
    PROMO = "promo"
    REFUND_RESTORE = "refund-restore"


# The entry kind a grant of each source writes.
GRANT_ENTRY_KIND: Mapping[GrantSource, EntryKind] = {
    GrantSource.PLAN: EntryKind.GRANT,
    GrantSource.PURCHASE: EntryKind.PURCHASE,
    GrantSource.REFERRAL: EntryKind.GRANT,
    GrantSource.ADMIN: EntryKind.ADJUSTMENT,
    GrantSource.PROMO: EntryKind.GRANT,
    GrantSource.REFUND_RESTORE: EntryKind.REFUND,
}


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(slots=True)
class Account:
    id: str
    created_at: datetime
    balance: int = 0
    held: int = 0
    last_seq: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.held

    def post(self, amount: int) -> tuple[int, int]:
        """Move the balance by a signed `amount` for a new entry: returns (its seq, balance after)."""
        self.balance += amount
        self.last_seq += 1
        return self.last_seq, self.balance

    def reserve(self, amount: int) -> None:
        """Hold `amount` more credits; refused when more than is available."""
        if amount > self.available:
            raise InsufficientCredits(needed=amount, available=self.available)
        self.held += amount

    def release(self, amount: int) -> None:
        """Stop holding `amount` credits (a hold finished or was trimmed)."""
        self.held -= amount

    def ensure_sound(self) -> None:
        """The last guard before a write, as the CHECK constraints are in SQL: a rule broken here
        is a bug (or corrupt data), never a user error, so the unit of work must not commit."""
        if self.balance < 0 or self.held < 0 or self.held > self.balance:
            raise LedgerInvariantBroken(f"account {self.id}: balance {self.balance}, held {self.held}")


@dataclass(slots=True)
class Grant:
    id: str
    account_id: str
    source: GrantSource
    granted: int
    remaining: int
    created_at: datetime
    expires_at: datetime | None = None
    reference: str | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def take(self, credits: int) -> int:
        """Remove `credits` (at most what remains) from the grant; returns them."""
        if not 0 <= credits <= self.remaining:
            raise LedgerInvariantBroken(f"grant {self.id}: take {credits} of {self.remaining}")
        self.remaining -= credits
        return credits


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    account_id: str
    seq: int
    kind: EntryKind
    amount: int
    balance_after: int
    idempotency_key: str
    created_at: datetime
    feature_key: str | None = None
    reference: str | None = None
    grant_id: str | None = None
    hold_id: str | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    entry_id: str
    grant_id: str
    amount: int  # credits the entry took from (negative entries) or returned to the grant


@dataclass(slots=True)
class Hold:
    id: str
    account_id: str
    requested: int
    amount: int
    status: HoldStatus
    idempotency_key: str
    expires_at: datetime
    created_at: datetime
    feature_key: str | None = None
    reference: str | None = None
    captured: int | None = None
    finished_at: datetime | None = None

    def finish(self, status: HoldStatus, now: datetime, captured: int | None = None) -> int:
        """Close the hold (captured, voided or expired); returns the credits it stops holding."""
        released = self.amount
        self.status, self.captured, self.finished_at = status, captured, now
        return released

    def trim(self, credits: int) -> int:
        """Hold up to `credits` fewer (expiry left less than is held); returns what was cut."""
        cut = min(self.amount, credits)
        self.amount -= cut
        return cut


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    account_id: str
    key: str
    operation: str
    fingerprint: str
    result: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Price:
    credits: int
    unit: str


@dataclass(frozen=True, slots=True)
class PriceList:
    prices: Mapping[str, Price]

    def cost(self, feature_key: str, quantity: int) -> int:
        price = self.prices.get(feature_key)
        if price is None:
            raise UnknownFeature(feature_key)
        if quantity < 1:
            raise InvalidInput("Quantity must be at least 1.", details={"quantity": "Must be at least 1."})
        return price.credits * quantity


def consumption_order(grants: Iterable[Grant]) -> list[Grant]:
    """Soonest-expiring first (grants that never expire last), then oldest first."""
    return sorted(
        grants,
        key=lambda g: (g.expires_at is None, g.expires_at or g.created_at, g.created_at, g.id),
    )


def take_from_grants(grants: Iterable[Grant], amount: int, available: int) -> list[tuple[Grant, int]]:
    """Decide how much to take from each open grant to remove `amount` credits.

    Refuses (without touching anything) when `amount` exceeds what is available; held credits are
    not available. Returns (grant, credits taken) pairs; the caller applies them.
    """
    if amount > available:
        raise InsufficientCredits(needed=amount, available=available)
    plan: list[tuple[Grant, int]] = []
    left = amount
    for grant in consumption_order(g for g in grants if g.remaining > 0):
        if left == 0:
            break
        take = min(grant.remaining, left)
        plan.append((grant, take))
        left -= take
    if left:
        raise AssertionError(f"grants hold {amount - left} credits but the balance promised {amount}")
    return plan


class PendingStatus(StrEnum):
    PENDING = "pending"
    RELEASED = "released"
    VOIDED = "voided"


@dataclass(slots=True)
class PendingGrant:
    """Credits promised and not yet given (a referral bonus during its hold period).

    Recorded in the ledger but outside the balance: no entry, no grant, nothing spendable, so
    every balance invariant holds unchanged. Released, it becomes one ordinary grant (and its one
    entry), `grant_id` says which; voided, it ends with nothing moved. Either end is final.
    """

    id: str
    account_id: str
    source: GrantSource
    amount: int
    status: PendingStatus
    created_at: datetime
    reference: str | None = None
    grant_id: str | None = None
    finished_at: datetime | None = None

    def close(self, status: PendingStatus, now: datetime, grant_id: str | None = None) -> None:
        if self.status is not PendingStatus.PENDING:
            raise LedgerInvariantBroken(f"pending grant {self.id} is already {self.status.value}")
        self.status, self.finished_at, self.grant_id = status, now, grant_id
