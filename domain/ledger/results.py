"""What ledger use cases return, and how a result is kept for idempotent replays (plain JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.ledger.model import Account, Entry, EntryKind, Grant, Hold, HoldStatus


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    balance: int
    held: int
    available: int

    @classmethod
    def of(cls, account: Account) -> BalanceSnapshot:
        return cls(account.balance, account.held, account.available)


@dataclass(frozen=True, slots=True)
class BalanceView:
    balance: int
    held: int
    available: int
    grants: list[Grant] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Usage:
    month: str
    total: int
    by_feature: dict[str, int]


@dataclass(frozen=True, slots=True)
class Movement:
    """The outcome of one mutating call: the entry written (if any), the balance after it, and
    what the call was about (the grant made, the hold placed or finished, a reversal's shortfall)."""

    balance: BalanceSnapshot
    entry: Entry | None = None
    grant_id: str | None = None
    hold: Hold | None = None
    shortfall: int = 0

    def to_record(self) -> dict[str, Any]:
        return {
            "balance": [self.balance.balance, self.balance.held, self.balance.available],
            "entry": _entry_to_dict(self.entry) if self.entry else None,
            "grant_id": self.grant_id,
            "hold": _hold_to_dict(self.hold) if self.hold else None,
            "shortfall": self.shortfall,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Movement:
        balance, held, available = data["balance"]
        return cls(
            balance=BalanceSnapshot(balance, held, available),
            entry=_entry_from_dict(data["entry"]) if data["entry"] else None,
            grant_id=data["grant_id"],
            hold=_hold_from_dict(data["hold"]) if data["hold"] else None,
            shortfall=data["shortfall"],
        )


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _entry_to_dict(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "account_id": entry.account_id,
        "seq": entry.seq,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "idempotency_key": entry.idempotency_key,
        "created_at": _time(entry.created_at),
        "feature_key": entry.feature_key,
        "reference": entry.reference,
        "grant_id": entry.grant_id,
        "hold_id": entry.hold_id,
    }


def _entry_from_dict(data: dict[str, Any]) -> Entry:
    created_at = _parse(data["created_at"])
    assert created_at is not None
    return Entry(**{**data, "kind": EntryKind(data["kind"]), "created_at": created_at})


def _hold_to_dict(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "account_id": hold.account_id,
        "requested": hold.requested,
        "amount": hold.amount,
        "status": hold.status.value,
        "idempotency_key": hold.idempotency_key,
        "expires_at": _time(hold.expires_at),
        "created_at": _time(hold.created_at),
        "feature_key": hold.feature_key,
        "reference": hold.reference,
        "captured": hold.captured,
        "finished_at": _time(hold.finished_at),
    }


def _hold_from_dict(data: dict[str, Any]) -> Hold:
    return Hold(
        **{
            **data,
            "status": HoldStatus(data["status"]),
            "expires_at": _parse(data["expires_at"]),
            "created_at": _parse(data["created_at"]),
            "finished_at": _parse(data["finished_at"]),
        }
    )
