"""The SQL ledger repository: SQLAlchemy Core statements with explicit row <-> dataclass mapping.

Repositories never commit: the unit of work owns the transaction. Every statement names its
columns, and every listing is shaped to walk an index (no OFFSET anywhere).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, func, insert, select, update

from adapters.sql.tables import (
    ledger_accounts,
    ledger_allocations,
    ledger_entries,
    ledger_grants,
    ledger_holds,
    ledger_idempotency,
)
from domain.ledger.model import (
    Account,
    Allocation,
    Entry,
    EntryKind,
    Grant,
    GrantSource,
    Hold,
    HoldStatus,
    IdempotencyRecord,
)

if TYPE_CHECKING:
    from adapters.sql.uow import Db

# Short column-collection aliases keep the statements readable.
A, G, E, L, H, K = (
    ledger_accounts.c,
    ledger_grants.c,
    ledger_entries.c,
    ledger_allocations.c,
    ledger_holds.c,
    ledger_idempotency.c,
)
ACCOUNT_COLUMNS = (A.id, A.balance, A.held, A.last_seq, A.created_at)
GRANT_COLUMNS = (
    G.id, G.account_id, G.source, G.granted, G.remaining, G.expires_at, G.reference, G.created_at,
)
ENTRY_COLUMNS = (
    E.id, E.account_id, E.seq, E.kind, E.amount, E.balance_after, E.feature_key, E.reference,
    E.idempotency_key, E.grant_id, E.hold_id, E.created_at,
)
HOLD_COLUMNS = (
    H.id, H.account_id, H.requested, H.amount, H.captured, H.status, H.feature_key, H.reference,
    H.idempotency_key, H.expires_at, H.created_at, H.finished_at,
)
IDEMPOTENCY_COLUMNS = (K.account_id, K.idempotency_key, K.operation, K.fingerprint, K.result, K.created_at)


class SqlLedgerRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    # accounts ------------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        self._db.execute(insert(ledger_accounts).values(_account_values(account)))

    def get_account(self, account_id: str) -> Account | None:
        row = self._db.execute(select(*ACCOUNT_COLUMNS).where(A.id == account_id)).first()
        return _account(row) if row else None

    def get_account_for_update(self, account_id: str) -> Account | None:
        statement = select(*ACCOUNT_COLUMNS).where(A.id == account_id).with_for_update()
        row = self._db.execute(statement).first()
        return _account(row) if row else None

    def update_account(self, account: Account) -> None:
        values = {"balance": account.balance, "held": account.held, "last_seq": account.last_seq}
        self._db.execute(update(ledger_accounts).where(A.id == account.id).values(values))

    # grants --------------------------------------------------------------------------------
    def add_grant(self, grant: Grant) -> None:
        self._db.execute(insert(ledger_grants).values(_grant_values(grant)))

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._db.execute(select(*GRANT_COLUMNS).where(G.id == grant_id)).first()
        return _grant(row) if row else None

    def update_grant(self, grant: Grant) -> None:
        values = {"remaining": grant.remaining, "expires_at": grant.expires_at, "reference": grant.reference}
        self._db.execute(update(ledger_grants).where(G.id == grant.id).values(values))

    def open_grants(self, account_id: str) -> list[Grant]:
        statement = select(*GRANT_COLUMNS).where(G.account_id == account_id, G.remaining > 0)
        return [_grant(row) for row in self._db.execute(statement)]

    def all_grants(self, account_id: str) -> list[Grant]:
        statement = select(*GRANT_COLUMNS).where(G.account_id == account_id)
        return [_grant(row) for row in self._db.execute(statement)]

    def accounts_with_expired_grants(self, now: datetime, limit: int) -> list[str]:
        statement = (
            select(G.account_id).distinct()
            .where(G.expires_at <= now, G.remaining > 0)
            .order_by(G.account_id)
            .limit(limit)
        )
        return list(self._db.execute(statement).scalars())

    # entries -------------------------------------------------------------------------------
    def add_entry(self, entry: Entry, allocations: Sequence[Allocation] = ()) -> None:
        self._db.execute(insert(ledger_entries).values(_entry_values(entry)))
        if allocations:
            rows = [{"entry_id": a.entry_id, "grant_id": a.grant_id, "amount": a.amount} for a in allocations]
            self._db.execute(insert(ledger_allocations), rows)

    def list_entries(
        self, account_id: str, *, limit: int, before_seq: int | None = None, kind: EntryKind | None = None
    ) -> list[Entry]:
        statement = select(*ENTRY_COLUMNS).where(E.account_id == account_id)
        if kind is not None:
            statement = statement.where(E.kind == kind.value)
        if before_seq is not None:
            statement = statement.where(E.seq < before_seq)
        statement = statement.order_by(E.seq.desc()).limit(limit)
        return [_entry(row) for row in self._db.execute(statement)]

    def allocations_of_entry(self, entry_id: str) -> list[Allocation]:
        statement = (
            select(L.entry_id, L.grant_id, L.amount).where(L.entry_id == entry_id).order_by(L.grant_id)
        )
        rows = self._db.execute(statement)
        return [Allocation(entry_id=r.entry_id, grant_id=r.grant_id, amount=int(r.amount)) for r in rows]

    def usage_by_feature(self, account_id: str, start: datetime, end: datetime) -> dict[str, int]:
        feature = func.coalesce(E.feature_key, "").label("feature")
        statement = (
            select(feature, func.sum(-E.amount).label("spent"))
            .where(E.account_id == account_id, E.created_at >= start, E.created_at < end)
            .where(E.kind == EntryKind.CHARGE.value)
            .group_by(feature)
        )
        return {row.feature: int(row.spent) for row in self._db.execute(statement)}

    # holds ---------------------------------------------------------------------------------
    def add_hold(self, hold: Hold) -> None:
        self._db.execute(insert(ledger_holds).values(_hold_values(hold)))

    def get_hold(self, hold_id: str) -> Hold | None:
        row = self._db.execute(select(*HOLD_COLUMNS).where(H.id == hold_id)).first()
        return _hold(row) if row else None

    def update_hold(self, hold: Hold) -> None:
        values = {
            "amount": hold.amount,
            "captured": hold.captured,
            "status": hold.status.value,
            "expires_at": hold.expires_at,
            "finished_at": hold.finished_at,
        }
        self._db.execute(update(ledger_holds).where(H.id == hold.id).values(values))

    def active_holds(self, account_id: str) -> list[Hold]:
        active = H.status == HoldStatus.ACTIVE.value
        statement = select(*HOLD_COLUMNS).where(H.account_id == account_id, active)
        return [_hold(row) for row in self._db.execute(statement)]

    def accounts_with_expired_holds(self, now: datetime, limit: int) -> list[str]:
        statement = (
            select(H.account_id).distinct()
            .where(H.status == HoldStatus.ACTIVE.value, H.expires_at <= now)
            .order_by(H.account_id)
            .limit(limit)
        )
        return list(self._db.execute(statement).scalars())

    # idempotency ---------------------------------------------------------------------------
    def get_idempotency(self, account_id: str, key: str) -> IdempotencyRecord | None:
        statement = select(*IDEMPOTENCY_COLUMNS).where(K.account_id == account_id, K.idempotency_key == key)
        row = self._db.execute(statement).first()
        return _idempotency(row) if row else None

    def add_idempotency(self, record: IdempotencyRecord) -> None:
        values = {
            "account_id": record.account_id,
            "idempotency_key": record.key,
            "operation": record.operation,
            "fingerprint": record.fingerprint,
            "result": dump_result(record.result),
            "created_at": record.created_at,
        }
        self._db.execute(insert(ledger_idempotency).values(values))


def dump_result(result: Mapping[str, Any]) -> str:
    return json.dumps(result, sort_keys=True, separators=(",", ":"))


# rows -> dataclasses ---------------------------------------------------------------------------
def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        created_at=row.created_at,
        balance=int(row.balance),
        held=int(row.held),
        last_seq=int(row.last_seq),
    )


def _grant(row: Row[Any]) -> Grant:
    return Grant(
        id=row.id,
        account_id=row.account_id,
        source=GrantSource(row.source),
        granted=int(row.granted),
        remaining=int(row.remaining),
        created_at=row.created_at,
        expires_at=row.expires_at,
        reference=row.reference,
    )


def _entry(row: Row[Any]) -> Entry:
    return Entry(
        id=row.id,
        account_id=row.account_id,
        seq=int(row.seq),
        kind=EntryKind(row.kind),
        amount=int(row.amount),
        balance_after=int(row.balance_after),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        feature_key=row.feature_key,
        reference=row.reference,
        grant_id=row.grant_id,
        hold_id=row.hold_id,
    )


def _hold(row: Row[Any]) -> Hold:
    return Hold(
        id=row.id,
        account_id=row.account_id,
        requested=int(row.requested),
        amount=int(row.amount),
        status=HoldStatus(row.status),
        idempotency_key=row.idempotency_key,
        expires_at=row.expires_at,
        created_at=row.created_at,
        feature_key=row.feature_key,
        reference=row.reference,
        captured=None if row.captured is None else int(row.captured),
        finished_at=row.finished_at,
    )


def _idempotency(row: Row[Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        account_id=row.account_id,
        key=row.idempotency_key,
        operation=row.operation,
        fingerprint=row.fingerprint,
        result=json.loads(row.result),
        created_at=row.created_at,
    )


# dataclasses -> rows ---------------------------------------------------------------------------
def _account_values(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "balance": account.balance,
        "held": account.held,
        "last_seq": account.last_seq,
        "created_at": account.created_at,
    }


def _grant_values(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "account_id": grant.account_id,
        "source": grant.source.value,
        "granted": grant.granted,
        "remaining": grant.remaining,
        "expires_at": grant.expires_at,
        "reference": grant.reference,
        "created_at": grant.created_at,
    }


def _entry_values(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "account_id": entry.account_id,
        "seq": entry.seq,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "feature_key": entry.feature_key,
        "reference": entry.reference,
        "idempotency_key": entry.idempotency_key,
        "grant_id": entry.grant_id,
        "hold_id": entry.hold_id,
        "created_at": entry.created_at,
    }


def _hold_values(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "account_id": hold.account_id,
        "requested": hold.requested,
        "amount": hold.amount,
        "captured": hold.captured,
        "status": hold.status.value,
        "feature_key": hold.feature_key,
        "reference": hold.reference,
        "idempotency_key": hold.idempotency_key,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
        "finished_at": hold.finished_at,
    }
