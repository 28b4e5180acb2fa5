"""The SQL ledger repository: SQLAlchemy Core statements with explicit row <-> dataclass mapping.

Repositories never commit: the unit of work owns the transaction. Every statement names its
columns, and every listing is shaped to walk an index (no OFFSET anywhere).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, insert, select, update

from adapters.sql.batch import RowCheck
from adapters.sql.db import Db, Precompiled, aware_utc, upsert_adding
from adapters.sql.tables import (
    ledger_accounts,
    ledger_allocations,
    ledger_entries,
    ledger_grants,
    ledger_holds,
    ledger_idempotency,
    ledger_pending_grants,
    ledger_usage,
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
    PendingGrant,
    PendingStatus,
)

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
    G.id,
    G.account_id,
    G.source,
    G.granted,
    G.remaining,
    G.expires_at,
    G.reference,
    G.created_at,
)
ENTRY_COLUMNS = (
    E.id,
    E.account_id,
    E.seq,
    E.kind,
    E.amount,
    E.balance_after,
    E.feature_key,
    E.reference,
    E.idempotency_key,
    E.grant_id,
    E.hold_id,
    E.created_at,
)
HOLD_COLUMNS = (
    H.id,
    H.account_id,
    H.requested,
    H.amount,
    H.captured,
    H.status,
    H.feature_key,
    H.reference,
    H.idempotency_key,
    H.expires_at,
    H.created_at,
    H.finished_at,
)
IDEMPOTENCY_COLUMNS = (K.account_id, K.idempotency_key, K.operation, K.fingerprint, K.result, K.created_at)
U = ledger_usage.c
P = ledger_pending_grants.c

# The hot path's statements, built once (each call then only binds values; the compiled form is
# cached by the engine). The account lock reads the open grants in the same round trip.
READ_ACCOUNT = (
    select(*ACCOUNT_COLUMNS, *GRANT_COLUMNS)
    .select_from(ledger_accounts.outerjoin(ledger_grants, and_(G.account_id == A.id, G.remaining > 0)))
    .where(A.id == bindparam("account_id"))
)
LOCK_ACCOUNT = READ_ACCOUNT.with_for_update()
HOT_READ_ACCOUNT, HOT_LOCK_ACCOUNT = Precompiled(READ_ACCOUNT), Precompiled(LOCK_ACCOUNT)  # issue 25
GET_ACCOUNT = select(*ACCOUNT_COLUMNS).where(A.id == bindparam("account_id"))
GET_ACCOUNT_FOR_UPDATE = GET_ACCOUNT.with_for_update()
UPDATE_ACCOUNT = (
    update(ledger_accounts)
    .where(A.id == bindparam("account_id"))
    .values(balance=bindparam("balance"), held=bindparam("held"), last_seq=bindparam("last_seq"))
)
# MySQL/MariaDB's multi-table UPDATE: the account and the one grant a charge took from, at once.
UPDATE_ACCOUNT_AND_GRANT = (
    update(ledger_accounts)
    .where(A.id == bindparam("a_id"), G.id == bindparam("g_id"), G.account_id == A.id)
    .values(
        {
            A.balance: bindparam("a_balance"),
            A.held: bindparam("a_held"),
            A.last_seq: bindparam("a_last_seq"),
            G.remaining: bindparam("g_remaining"),
            G.expires_at: bindparam("g_expires_at"),
            G.reference: bindparam("g_reference"),
        }
    )
)
OPEN_GRANTS = select(*GRANT_COLUMNS).where(G.account_id == bindparam("account_id"), G.remaining > 0)
UPDATE_GRANT = (
    update(ledger_grants)
    .where(G.id == bindparam("grant_id"))
    .values(remaining=bindparam("remaining"), expires_at=bindparam("expires_at"), reference=bindparam("reference"))
)
INSERT_GRANT = insert(ledger_grants)
INSERT_ENTRY = insert(ledger_entries)
INSERT_ALLOCATIONS = insert(ledger_allocations)
INSERT_HOLD = insert(ledger_holds)
INSERT_IDEMPOTENCY = insert(ledger_idempotency)
GET_IDEMPOTENCY = select(*IDEMPOTENCY_COLUMNS).where(
    K.account_id == bindparam("account_id"), K.idempotency_key == bindparam("key")
)
ACTIVE_HOLDS = select(*HOLD_COLUMNS).where(H.account_id == bindparam("account_id"), H.status == HoldStatus.ACTIVE.value)
UPDATE_HOLD = (
    update(ledger_holds)
    .where(H.id == bindparam("hold_id"))
    .values(
        amount=bindparam("amount"),
        captured=bindparam("captured"),
        status=bindparam("status"),
        expires_at=bindparam("expires_at"),
        finished_at=bindparam("finished_at"),
    )
)
GET_HOLD = select(*HOLD_COLUMNS).where(H.id == bindparam("hold_id"))
MONTHLY_USAGE = select(U.feature_key, U.spent).where(
    U.account_id == bindparam("account_id"), U.month == bindparam("month")
)
ADD_USAGE = upsert_adding(ledger_usage, "spent")


class SqlLedgerRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    # accounts ------------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        self._db.execute(insert(ledger_accounts).values(_account_values(account)))

    def get_account(self, account_id: str) -> Account | None:
        row = self._db.execute(GET_ACCOUNT, {"account_id": account_id}).first()
        return _account(row) if row else None

    def get_account_for_update(self, account_id: str) -> Account | None:
        row = self._db.execute(GET_ACCOUNT_FOR_UPDATE, {"account_id": account_id}).first()
        return _account(row) if row else None

    def lock_account(self, account_id: str) -> tuple[Account, list[Grant]] | None:
        return self._account_with_grants(HOT_LOCK_ACCOUNT, account_id)

    def read_account(self, account_id: str) -> tuple[Account, list[Grant]] | None:
        return self._account_with_grants(HOT_READ_ACCOUNT, account_id)

    def _account_with_grants(self, statement: Precompiled, account_id: str) -> tuple[Account, list[Grant]] | None:
        """Driver rows on MySQL/MariaDB (naive datetimes), Core rows elsewhere (aware ones)."""
        rows = self._db.execute_precompiled(statement, {"account_id": account_id})
        if not rows:
            return None
        first = rows[0]
        account = Account(
            id=first[0],
            balance=int(first[1]),
            held=int(first[2]),
            last_seq=int(first[3]),
            created_at=aware_utc(first[4]),
        )
        grants = [_grant_from_driver(row, 5) for row in rows if row[5] is not None]
        return account, grants

    def update_account(self, account: Account, grants: Sequence[Grant] = ()) -> None:
        if len(grants) == 1 and self._db.dialect in ("mysql", "mariadb"):
            (grant,) = grants
            values = {
                "a_id": account.id,
                "a_balance": account.balance,
                "a_held": account.held,
                "a_last_seq": account.last_seq,
                "g_id": grant.id,
                "g_remaining": grant.remaining,
                "g_expires_at": grant.expires_at,
                "g_reference": grant.reference,
            }
            # rows found, not changed: 0 only when the grant is not this account's (issue 25: checked
            # in the batch, before its COMMIT)
            missing = RowCheck(1, lambda: LookupError(f"grant {grant.id} is not account {account.id}'s"))
            self._db.write(UPDATE_ACCOUNT_AND_GRANT, values, check=missing)
            return
        for grant in grants:
            self.update_grant(grant)
        values = {
            "account_id": account.id,
            "balance": account.balance,
            "held": account.held,
            "last_seq": account.last_seq,
        }
        self._db.write(UPDATE_ACCOUNT, values)

    # grants --------------------------------------------------------------------------------
    def add_grant(self, grant: Grant) -> None:
        self._db.write(INSERT_GRANT, _grant_values(grant))

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._db.execute(select(*GRANT_COLUMNS).where(G.id == grant_id)).first()
        return _grant(row) if row else None

    def update_grant(self, grant: Grant) -> None:
        values = {
            "grant_id": grant.id,
            "remaining": grant.remaining,
            "expires_at": grant.expires_at,
            "reference": grant.reference,
        }
        self._db.write(UPDATE_GRANT, values)

    def open_grants(self, account_id: str) -> list[Grant]:
        return [_grant_at(row, 0) for row in self._db.execute(OPEN_GRANTS, {"account_id": account_id})]

    def all_grants(self, account_id: str) -> list[Grant]:
        statement = select(*GRANT_COLUMNS).where(G.account_id == account_id)
        return [_grant(row) for row in self._db.execute(statement)]

    def grants_expiring(self, start: datetime, end: datetime, *, after: str | None, limit: int) -> list[Grant]:
        statement = select(*GRANT_COLUMNS).where(G.expires_at > start, G.expires_at <= end, G.remaining > 0)
        if after is not None:
            statement = statement.where(G.id > after)
        return [_grant(row) for row in self._db.execute(statement.order_by(G.id).limit(limit))]

    def accounts_with_expired_grants(self, now: datetime, limit: int) -> list[str]:
        statement = (
            select(G.account_id)
            .distinct()
            .where(G.expires_at <= now, G.remaining > 0)
            .order_by(G.account_id)
            .limit(limit)
        )
        return list(self._db.execute(statement).scalars())

    # entries -------------------------------------------------------------------------------
    def add_entry(self, entry: Entry, allocations: Sequence[Allocation] = ()) -> None:
        self._db.write(INSERT_ENTRY, _entry_values(entry))
        if allocations:
            rows = [{"entry_id": a.entry_id, "grant_id": a.grant_id, "amount": a.amount} for a in allocations]
            self._db.write(INSERT_ALLOCATIONS, rows if len(rows) > 1 else rows[0])
        if entry.kind is EntryKind.CHARGE:  # the monthly usage rollup, in the same transaction
            usage = {
                "account_id": entry.account_id,
                "month": entry.created_at.strftime("%Y-%m"),
                "feature_key": entry.feature_key or "",
                "spent": -entry.amount,
            }
            self._db.write(ADD_USAGE[self._db.dialect], usage)

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
        statement = select(L.entry_id, L.grant_id, L.amount).where(L.entry_id == entry_id).order_by(L.grant_id)
        rows = self._db.execute(statement)
        return [Allocation(entry_id=r.entry_id, grant_id=r.grant_id, amount=int(r.amount)) for r in rows]

    def usage_by_feature(self, account_id: str, start: datetime, end: datetime) -> dict[str, int]:
        month = _whole_month(start, end)
        if month is not None:  # one row per feature from the rollup, whatever the month's entries
            rows = self._db.execute(MONTHLY_USAGE, {"account_id": account_id, "month": month})
            return {row.feature_key: int(row.spent) for row in rows}
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
        self._db.write(INSERT_HOLD, _hold_values(hold))

    def get_hold(self, hold_id: str) -> Hold | None:
        row = self._db.execute(GET_HOLD, {"hold_id": hold_id}).first()
        return _hold(row) if row else None

    def update_hold(self, hold: Hold) -> None:
        values = {
            "hold_id": hold.id,
            "amount": hold.amount,
            "captured": hold.captured,
            "status": hold.status.value,
            "expires_at": hold.expires_at,
            "finished_at": hold.finished_at,
        }
        self._db.write(UPDATE_HOLD, values)

    def active_holds(self, account_id: str) -> list[Hold]:
        return [_hold(row) for row in self._db.execute(ACTIVE_HOLDS, {"account_id": account_id})]

    def accounts_with_expired_holds(self, now: datetime, limit: int) -> list[str]:
        statement = (
            select(H.account_id)
            .distinct()
            .where(H.status == HoldStatus.ACTIVE.value, H.expires_at <= now)
            .order_by(H.account_id)
            .limit(limit)
        )
        return list(self._db.execute(statement).scalars())

    # pending grants (read and written under the account's lock) ---------------------------
    def add_pending_grant(self, pending: PendingGrant) -> None:
        self._db.execute(insert(ledger_pending_grants).values(_pending_values(pending)))

    def get_pending_grant(self, pending_id: str) -> PendingGrant | None:
        row = self._db.execute(select(ledger_pending_grants).where(P.id == pending_id)).mappings().first()
        return _pending(row) if row else None

    def update_pending_grant(self, pending: PendingGrant) -> None:
        values = {"status": pending.status.value, "grant_id": pending.grant_id, "finished_at": pending.finished_at}
        self._db.execute(update(ledger_pending_grants).where(P.id == pending.id).values(values))

    def pending_grants(self, account_id: str) -> list[PendingGrant]:
        rows = self._db.execute(select(ledger_pending_grants).where(P.account_id == account_id)).mappings()
        return [_pending(row) for row in rows]

    # idempotency ---------------------------------------------------------------------------
    def get_idempotency(self, account_id: str, key: str) -> IdempotencyRecord | None:
        row = self._db.execute(GET_IDEMPOTENCY, {"account_id": account_id, "key": key}).first()
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
        self._db.write(INSERT_IDEMPOTENCY, values)


def dump_result(result: Mapping[str, Any]) -> str:
    return json.dumps(result, sort_keys=True, separators=(",", ":"))


# rows -> dataclasses ---------------------------------------------------------------------------
def _pending(row: Any) -> PendingGrant:
    return PendingGrant(
        id=row["id"],
        account_id=row["account_id"],
        source=GrantSource(row["source"]),
        amount=int(row["amount"]),
        status=PendingStatus(row["status"]),
        created_at=row["created_at"],
        reference=row["reference"],
        grant_id=row["grant_id"],
        finished_at=row["finished_at"],
    )


def _pending_values(pending: PendingGrant) -> dict[str, Any]:
    return {
        "id": pending.id,
        "account_id": pending.account_id,
        "source": pending.source.value,
        "amount": pending.amount,
        "status": pending.status.value,
        "reference": pending.reference,
        "grant_id": pending.grant_id,
        "created_at": pending.created_at,
        "finished_at": pending.finished_at,
    }


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        created_at=row.created_at,
        balance=int(row.balance),
        held=int(row.held),
        last_seq=int(row.last_seq),
    )


def _grant(row: Row[Any]) -> Grant:
    return _grant_at(row, 0)


def _grant_at(row: Row[Any], i: int) -> Grant:
    """The grant in GRANT_COLUMNS order from position `i` of `row` (positions: cheaper than names)."""
    return Grant(
        id=row[i],
        account_id=row[i + 1],
        source=GrantSource(row[i + 2]),
        granted=int(row[i + 3]),
        remaining=int(row[i + 4]),
        expires_at=row[i + 5],
        reference=row[i + 6],
        created_at=row[i + 7],
    )


def _grant_from_driver(row: Any, i: int) -> Grant:
    """`_grant_at` for a row whose datetimes may be the driver's naive UTC ones."""
    grant = _grant_at(row, i)
    grant.expires_at, grant.created_at = aware_utc(grant.expires_at), aware_utc(grant.created_at)
    return grant


def _whole_month(start: datetime, end: datetime) -> str | None:
    """ "YYYY-MM" when [start, end) is exactly one UTC calendar month, else None."""
    if (start.day, start.hour, start.minute, start.second, start.microsecond) != (1, 0, 0, 0, 0):
        return None
    if start.utcoffset() != timedelta(0) or end.utcoffset() != timedelta(0):
        return None
    try:
        following = (
            start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        )
    except ValueError:  # December 9999
        return None
    return start.strftime("%Y-%m") if end == following else None


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
