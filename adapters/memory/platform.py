"""In-memory login history, audit log and admin directory: the same answers as the SQL ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.store import MemoryStore
from domain.identity.logins import LoginAttempt
from domain.identity.model import Role, User
from domain.ledger.model import Account
from domain.platform.model import UserSummary
from domain.shared.audit import AuditRecord
from domain.shared.errors import DuplicateRecord

LOGINS = "login_events"
AUDIT = "audit_log"
USERS = "users"
ACCOUNTS = "ledger_accounts"


def _before(record: LoginAttempt | AuditRecord, before: tuple[datetime, str] | None) -> bool:
    return before is None or (record.at, record.id) < before


class _Repository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    def _insert(self, table: str, record: Any) -> None:
        if record.id in self._t(table):
            raise DuplicateRecord("The record already exists.")
        self._t(table)[record.id] = record  # frozen dataclasses: no copy needed


class InMemoryLoginRepository(_Repository):
    def add(self, attempt: LoginAttempt) -> None:
        self._insert(LOGINS, attempt)

    def list_for_user(
        self, user_id: str, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[LoginAttempt]:
        found = [a for a in self._t(LOGINS).values() if a.user_id == user_id and _before(a, before)]
        return sorted(found, key=lambda a: (a.at, a.id), reverse=True)[:limit]


class InMemoryAuditRepository(_Repository):
    def add(self, record: AuditRecord) -> None:
        self._insert(AUDIT, replace(record, details=dict(record.details)))

    def search(
        self,
        *,
        actor: str | None,
        action: str | None,
        subject: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditRecord]:
        def matches(r: AuditRecord) -> bool:
            return (
                (actor is None or r.actor_id == actor)
                and (action is None or r.action == action)
                and (subject is None or r.subject_id == subject)
                and _before(r, before)
            )

        found = sorted((r for r in self._t(AUDIT).values() if matches(r)), key=lambda r: (r.at, r.id), reverse=True)
        return [replace(r, details=dict(r.details)) for r in found[:limit]]


class InMemoryUserDirectory(_Repository):
    def search(
        self, *, q: str | None, plan: str | None, role: Role | None, after: str | None, limit: int
    ) -> list[UserSummary]:
        def matches(u: User) -> bool:
            return (
                (q is None or u.id == q or u.email.startswith(q))
                and (plan is None or u.plan == plan)
                and (role is None or u.role is role)
                and (after is None or u.id > after)
            )

        found = sorted((u for u in self._t(USERS).values() if matches(u)), key=lambda u: u.id)
        accounts: dict[str, Account] = self._t(ACCOUNTS)

        def summary(user: User) -> UserSummary:
            account = accounts.get(user.id)
            if account is None:
                return UserSummary(user=replace(user), balance=0, available=0)
            return UserSummary(user=replace(user), balance=account.balance, available=account.available)

        return [summary(u) for u in found[:limit]]

    def admin_ids_for_update(self) -> list[str]:
        # The memory unit of work already serialises writers, which is what the row locks give.
        return sorted(u.id for u in self._t(USERS).values() if u.role is Role.ADMIN)
