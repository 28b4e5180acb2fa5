"""What login history, the audit log and the admin directory need from storage. Append-only:
neither repository can change or delete a record. Repositories never commit."""

from __future__ import annotations

from typing import Protocol

from domain.identity.logins import LoginRepository
from domain.identity.model import Role, User
from domain.platform.model import UserSummary
from domain.shared.audit import AuditRepository
from domain.shared.uow import UnitOfWork


class UserDirectory(Protocol):
    def search(
        self, *, q: str | None, plan: str | None, role: Role | None, after: str | None, limit: int
    ) -> list[UserSummary]:
        """Users by id ascending with id > after, each with its ledger balance (read in the same
        query: a page is one statement); `q` matches an id exactly or an email prefix."""

    def admin_ids_for_update(self) -> list[str]:
        """Ids of every admin, their rows locked until the unit of work ends (FOR UPDATE)."""


class PlatformUnitOfWork(UnitOfWork, Protocol):
    @property
    def users(self) -> UserDirectoryUsers: ...
    @property
    def logins(self) -> LoginRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def directory(self) -> UserDirectory: ...


class UserDirectoryUsers(Protocol):
    """The part of identity's UserRepository the admin use cases use."""

    def get(self, user_id: str) -> User | None: ...
    def update(self, user: User) -> None: ...
