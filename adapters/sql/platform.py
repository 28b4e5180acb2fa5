"""SQL repositories of login history, the audit log and the admin directory. Never commit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Table, and_, insert, or_, select
from sqlalchemy.engine import RowMapping

from adapters.sql.identity import _user
from adapters.sql.tables import audit_log, ledger_accounts, login_events, users
from domain.identity.logins import LoginAttempt, LoginEvent
from domain.identity.model import Role
from domain.platform.model import UserSummary
from domain.shared.audit import AuditRecord

if TYPE_CHECKING:  # the unit of work imports this module
    from adapters.sql.db import Db


def _attempt(row: RowMapping) -> LoginAttempt:
    return LoginAttempt(
        id=row["id"],
        at=row["at"],
        event=LoginEvent(row["event"]),
        success=bool(row["success"]),
        user_id=row["user_id"],
        email=row["email"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        reason=row["reason"],
    )


def _record(row: RowMapping) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=row["at"],
        actor_id=row["actor_id"],
        action=row["action"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        details=json.loads(row["details"]),
    )


def _newest_first(query: Select[Any], table: Table, before: tuple[datetime, str] | None, limit: int) -> Select[Any]:
    """`query` ordered by (at, id) descending, from just before the keyset position `before`."""
    t = table.c
    if before is not None:
        query = query.where(or_(t.at < before[0], and_(t.at == before[0], t.id < before[1])))
    return query.order_by(t.at.desc(), t.id.desc()).limit(limit)


def _summary(row: RowMapping) -> UserSummary:
    balance, held = row["account_balance"] or 0, row["account_held"] or 0
    return UserSummary(user=_user(row), balance=balance, available=balance - held)


class SqlLoginRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, attempt: LoginAttempt) -> None:
        values: dict[str, Any] = {
            "id": attempt.id,
            "at": attempt.at,
            "event": attempt.event.value,
            "success": attempt.success,
            "user_id": attempt.user_id,
            "email": attempt.email,
            "ip": attempt.ip,
            "user_agent": attempt.user_agent,
            "reason": attempt.reason,
        }
        self._db.execute(insert(login_events).values(values))

    def list_for_user(
        self, user_id: str, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[LoginAttempt]:
        query = select(login_events).where(login_events.c.user_id == user_id)
        rows = self._db.execute(_newest_first(query, login_events, before, limit)).mappings()
        return [_attempt(row) for row in rows]


class SqlAuditRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, record: AuditRecord) -> None:
        values: dict[str, Any] = {
            "id": record.id,
            "at": record.at,
            "actor_id": record.actor_id,
            "action": record.action,
            "subject_type": record.subject_type,
            "subject_id": record.subject_id,
            "details": json.dumps(dict(record.details), sort_keys=True),
        }
        self._db.execute(insert(audit_log).values(values))

    def search(
        self,
        *,
        actor: str | None,
        action: str | None,
        subject: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditRecord]:
        query = select(audit_log)
        for column, value in (
            (audit_log.c.actor_id, actor),
            (audit_log.c.action, action),
            (audit_log.c.subject_id, subject),
        ):
            if value is not None:
                query = query.where(column == value)
        rows = self._db.execute(_newest_first(query, audit_log, before, limit)).mappings()
        return [_record(row) for row in rows]


class SqlUserDirectory:
    def __init__(self, db: Db) -> None:
        self._db = db

    def search(
        self, *, q: str | None, plan: str | None, role: Role | None, after: str | None, limit: int
    ) -> list[UserSummary]:
        a = ledger_accounts.c
        query = select(users, a.balance.label("account_balance"), a.held.label("account_held")).select_from(
            users.outerjoin(ledger_accounts, a.id == users.c.id)
        )
        if q is not None:
            prefix = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(users.c.id == q, users.c.email.like(prefix, escape="\\")))
        if plan is not None:
            query = query.where(users.c.plan == plan)
        if role is not None:
            query = query.where(users.c.role == role.value)
        if after is not None:
            query = query.where(users.c.id > after)
        rows = self._db.execute(query.order_by(users.c.id).limit(limit)).mappings()
        return [_summary(row) for row in rows]

    def admin_ids_for_update(self) -> list[str]:
        query = select(users.c.id).where(users.c.role == Role.ADMIN.value).order_by(users.c.id).with_for_update()
        return [row[0] for row in self._db.execute(query)]
