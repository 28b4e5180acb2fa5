"""Operations use cases: login history, the audit log, and the admin directory (search, roles).

Audit records of a change are written by the use case that makes the change, in its unit of
work (see `new_audit`), so a change and its record commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

from domain.identity.errors import UserNotFound
from domain.identity.logins import LoginAttempt
from domain.identity.model import Role, User
from domain.platform.errors import LastAdmin
from domain.platform.model import UserSummary
from domain.platform.ports import PlatformUnitOfWork
from domain.shared.audit import AuditAction, AuditRecord, DetailValue
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.pagination import (
    Page,
    check_limit,
    cursor_datetime,
    decode_cursor,
    id_cursor,
    page_of,
)
from domain.shared.uow import transaction


class _Timed(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def at(self) -> datetime: ...


T = TypeVar("T", bound=_Timed)


class Operations:
    def __init__(self, *, uow: Callable[[], PlatformUnitOfWork], clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    def new_audit(
        self,
        actor_id: str | None,
        action: str,
        subject_type: str,
        subject_id: str,
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditRecord:
        """A record to hand to the use case that makes the change (written in its transaction)."""
        return AuditRecord(
            id=self._ids.new_id("aud"),
            at=self._clock.now(),
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=dict(details or {}),
        )

    def record(self, record: AuditRecord) -> None:
        """Write `record` on its own: for an admin action whose change happens elsewhere (a refund
        asked of the payment provider writes nothing of ours until its webhook arrives)."""
        transaction(self._uow, lambda uow: uow.audit.add(record))  # a rerun after contention: nothing was kept

    # --- reads -----------------------------------------------------------------------------
    def login_history(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[LoginAttempt]:
        """The user's sign-in attempts and refresh-family revocations, newest first."""
        check_limit(limit)
        before = _time_cursor(cursor)
        with self._uow() as uow:
            if uow.users.get(user_id) is None:
                raise UserNotFound()
            found = uow.logins.list_for_user(user_id, limit=limit + 1, before=before)
        return _page(found, limit)

    def audit_page(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AuditRecord]:
        check_limit(limit)
        before = _time_cursor(cursor)
        with self._uow() as uow:
            found = uow.audit.search(actor=actor, action=action, subject=subject, limit=limit + 1, before=before)
        return _page(found, limit)

    def search_users(
        self,
        *,
        q: str | None = None,
        plan: str | None = None,
        role: Role | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        """Users by id, matching `q` (an exact id, or the start of an email), plan and role."""
        check_limit(limit)
        after = id_cursor(cursor)
        query = q.strip().lower() if q and q.strip() else None
        with self._uow() as uow:
            found = uow.directory.search(q=query, plan=plan, role=role, after=after, limit=limit + 1)
        return page_of(found, limit, lambda last: {"id": last.user.id})

    # --- changes ---------------------------------------------------------------------------
    def change_role(self, actor_id: str, user_id: str, role: Role) -> User:
        """Set a user's role, audited in the same transaction. The last admin cannot be demoted
        (every admin row is locked first, so two admins demoting each other cannot both win)."""
        return transaction(self._uow, lambda uow: self._change_role(uow, actor_id, user_id, role))

    def _change_role(self, uow: PlatformUnitOfWork, actor_id: str, user_id: str, role: Role) -> User:
        admins = uow.directory.admin_ids_for_update()
        user = uow.users.get(user_id)
        if user is None:
            raise UserNotFound()
        if user.role is role:
            return user  # nothing changes, nothing to audit
        if user.role is Role.ADMIN and admins == [user.id]:
            raise LastAdmin()
        previous, user.role, user.updated_at = user.role, role, self._clock.now()
        uow.users.update(user)
        details: dict[str, DetailValue] = {"from": previous.value, "to": role.value}
        uow.audit.add(self.new_audit(actor_id, AuditAction.ROLE_CHANGED, "user", user.id, details))
        return user


def _page(found: list[T], limit: int) -> Page[T]:
    """Newest first by (at, id): ids alone are ordered only to the millisecond."""
    return page_of(found, limit, lambda last: {"t": last.at.isoformat(), "id": last.id})


def _time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (at, id) a `{"t": ..., "id": ...}` cursor points before."""
    record_id = id_cursor(cursor)
    if cursor is None or record_id is None:
        return None
    return cursor_datetime(decode_cursor(cursor).get("t")), record_id
