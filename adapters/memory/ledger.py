"""The in-memory ledger repository: dicts of copies, the same answers as SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.store import MemoryStore
from domain.ledger.model import (
    Account,
    Allocation,
    Entry,
    EntryKind,
    Grant,
    Hold,
    HoldStatus,
    IdempotencyRecord,
    PendingGrant,
)
from domain.shared.errors import DuplicateRecord


class InMemoryLedgerRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    # accounts
    def add_account(self, account: Account) -> None:
        self._insert("ledger_accounts", account.id, replace(account))

    def get_account(self, account_id: str) -> Account | None:
        found = self._t("ledger_accounts").get(account_id)
        return replace(found) if found else None

    def get_account_for_update(self, account_id: str) -> Account | None:
        return self.get_account(account_id)  # the unit of work already serialises writers

    def lock_account(self, account_id: str) -> tuple[Account, list[Grant]] | None:
        account = self.get_account_for_update(account_id)
        return None if account is None else (account, self.open_grants(account_id))

    def read_account(self, account_id: str) -> tuple[Account, list[Grant]] | None:
        return self.lock_account(account_id)

    def update_account(self, account: Account, grants: Sequence[Grant] = ()) -> None:
        for grant in grants:
            self.update_grant(grant)
        self._t("ledger_accounts")[account.id] = replace(account)

    # grants
    def add_grant(self, grant: Grant) -> None:
        self._insert("ledger_grants", grant.id, replace(grant))

    def get_grant(self, grant_id: str) -> Grant | None:
        found = self._t("ledger_grants").get(grant_id)
        return replace(found) if found else None

    def update_grant(self, grant: Grant) -> None:
        self._t("ledger_grants")[grant.id] = replace(grant)

    def open_grants(self, account_id: str) -> list[Grant]:
        return [g for g in self.all_grants(account_id) if g.remaining > 0]

    def all_grants(self, account_id: str) -> list[Grant]:
        return [replace(g) for g in self._t("ledger_grants").values() if g.account_id == account_id]

    def grants_expiring(self, start: datetime, end: datetime, *, after: str | None, limit: int) -> list[Grant]:
        found = [
            replace(g)
            for g in self._t("ledger_grants").values()
            if g.remaining > 0
            and g.expires_at is not None
            and start < g.expires_at <= end
            and (after is None or g.id > after)
        ]
        return sorted(found, key=lambda g: g.id)[:limit]

    def accounts_with_expired_grants(self, now: datetime, limit: int) -> list[str]:
        ids = {
            g.account_id
            for g in self._t("ledger_grants").values()
            if g.remaining > 0 and g.expires_at is not None and g.expires_at <= now
        }
        return sorted(ids)[:limit]

    # entries
    def add_entry(self, entry: Entry, allocations: Sequence[Allocation] = ()) -> None:
        keys = self._t("ledger_entry_keys")
        if (entry.account_id, entry.idempotency_key) in keys or (entry.account_id, entry.seq) in keys:
            raise DuplicateRecord("The record already exists.")
        self._insert("ledger_entries", entry.id, entry)
        keys[(entry.account_id, entry.idempotency_key)] = entry.id
        keys[(entry.account_id, entry.seq)] = entry.id
        self._t("ledger_allocations")[entry.id] = list(allocations)  # frozen: stored as they are

    def list_entries(
        self, account_id: str, *, limit: int, before_seq: int | None = None, kind: EntryKind | None = None
    ) -> list[Entry]:
        rows = [
            e
            for e in self._t("ledger_entries").values()
            if e.account_id == account_id
            and (kind is None or e.kind == kind)
            and (before_seq is None or e.seq < before_seq)
        ]
        rows.sort(key=lambda e: e.seq, reverse=True)
        return rows[:limit]

    def allocations_of_entry(self, entry_id: str) -> list[Allocation]:
        return list(self._t("ledger_allocations").get(entry_id, []))

    def usage_by_feature(self, account_id: str, start: datetime, end: datetime) -> dict[str, int]:
        usage: dict[str, int] = {}
        for e in self._t("ledger_entries").values():
            if e.account_id == account_id and e.kind == EntryKind.CHARGE and start <= e.created_at < end:
                key = e.feature_key or ""
                usage[key] = usage.get(key, 0) - e.amount
        return usage

    # holds
    def add_hold(self, hold: Hold) -> None:
        keys = self._t("ledger_hold_keys")
        if (hold.account_id, hold.idempotency_key) in keys:
            raise DuplicateRecord("The record already exists.")
        self._insert("ledger_holds", hold.id, replace(hold))
        keys[(hold.account_id, hold.idempotency_key)] = hold.id

    def get_hold(self, hold_id: str) -> Hold | None:
        found = self._t("ledger_holds").get(hold_id)
        return replace(found) if found else None

    def update_hold(self, hold: Hold) -> None:
        self._t("ledger_holds")[hold.id] = replace(hold)

    def active_holds(self, account_id: str) -> list[Hold]:
        return [
            replace(h)
            for h in self._t("ledger_holds").values()
            if h.account_id == account_id and h.status == HoldStatus.ACTIVE
        ]

    def accounts_with_expired_holds(self, now: datetime, limit: int) -> list[str]:
        ids = {
            h.account_id
            for h in self._t("ledger_holds").values()
            if h.status == HoldStatus.ACTIVE and h.expires_at <= now
        }
        return sorted(ids)[:limit]

    # pending grants
    def add_pending_grant(self, pending: PendingGrant) -> None:
        self._insert("ledger_pending_grants", pending.id, replace(pending))

    def get_pending_grant(self, pending_id: str) -> PendingGrant | None:
        found = self._t("ledger_pending_grants").get(pending_id)
        return replace(found) if found else None

    def update_pending_grant(self, pending: PendingGrant) -> None:
        self._t("ledger_pending_grants")[pending.id] = replace(pending)

    def pending_grants(self, account_id: str) -> list[PendingGrant]:
        return [replace(p) for p in self._t("ledger_pending_grants").values() if p.account_id == account_id]

    # idempotency
    def get_idempotency(self, account_id: str, key: str) -> IdempotencyRecord | None:
        return self._t("ledger_idempotency").get((account_id, key))  # frozen: safe to share

    def add_idempotency(self, record: IdempotencyRecord) -> None:
        # Stored as SQL stores it: the result goes through JSON, so both give back the same values.
        stored = replace(record, result=json.loads(json.dumps(record.result)))
        self._insert("ledger_idempotency", (record.account_id, record.key), stored)

    def _insert(self, table: str, key: Any, value: Any) -> None:
        rows = self._t(table)
        if key in rows:
            raise DuplicateRecord("The record already exists.")
        rows[key] = value
