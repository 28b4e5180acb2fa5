"""What login history, the audit log and the admin directory need from storage. Append-only:
neither repository can change or delete a record. Repositories never commit."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.identity.model import Role, User
from domain.ledger.ports import LedgerRepository
from domain.platform.model import AuditRecord, LoginAttempt
from domain.shared.uow import UnitOfWork


class LoginRepository(Protocol):
    def add(self, attempt: LoginAttempt) -> None: ...

    def list_for_user(
        self, user_id: str, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[LoginAttempt]:
        """The user's attempts, newest first by (at, id) descending, strictly before `before`."""


class AuditRepository(Protocol):
    def add(self, record: AuditRecord) -> None: ...

    def search(
        self,
        *,
        actor: str | None,
        action: str | None,
        subject: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[AuditRecord]:
        """Records matching every given filter (exact values), newest first by (at, id) descending,
        strictly before `before`."""


class UserDirectory(Protocol):
    def search(
        self, *, q: str | None, plan: str | None, role: Role | None, after: str | None, limit: int
    ) -> list[User]:
        """Users by id ascending with id > after; `q` matches an id exactly or an email prefix."""

    def admin_ids_for_update(self) -> list[str]:
        """Ids of every admin, their rows locked until the unit of work ends (FOR UPDATE)."""


class AuditUnitOfWork(UnitOfWork, Protocol):
    @property
    def audit(self) -> AuditRepository: ...


class PlatformUnitOfWork(UnitOfWork, Protocol):
    @property
    def users(self) -> UserDirectoryUsers: ...
    @property
    def logins(self) -> LoginRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def directory(self) -> UserDirectory: ...
    @property
    def ledger(self) -> LedgerRepository: ...  # read only here: balances for the directory


class UserDirectoryUsers(Protocol):
    """The part of identity's UserRepository the admin use cases use."""

    def get(self, user_id: str) -> User | None: ...
    def update(self, user: User) -> None: ...
