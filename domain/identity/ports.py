"""What identity needs from the outside: storage, a password hasher and an access-token codec.

Repositories never commit (the unit of work does). Every getter returns a fresh copy: changing
it changes nothing until the matching `add`/`update` call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.identity.logins import LoginRepository
from domain.identity.model import AccessClaims, ApiKey, Principal, RefreshToken, User
from domain.shared.audit import AuditRepository
from domain.shared.uow import UnitOfWork


class UserRepository(Protocol):
    def add(self, user: User) -> None:
        """Insert; raises DuplicateRecord when the id or the (lower-cased) email is taken."""

    def get(self, user_id: str) -> User | None: ...

    def get_for_update(self, user_id: str) -> User | None:
        """The user, its row locked until the unit of work ends (FOR UPDATE on MySQL/MariaDB): what
        serialises the per-user checks that count rows and then insert (the API-key cap)."""

    def get_for_access(self, user_id: str, family_id: str) -> tuple[Principal | None, bool]:
        """The user as a caller (id, stored role and plan), and whether refresh family `family_id`
        is revoked: what authenticating an access token needs, in one read of only those columns
        (it runs on every request)."""

    def get_by_email(self, email: str) -> User | None: ...
    def update(self, user: User) -> None: ...

    def list_after(self, after: str | None, limit: int) -> list[User]:
        """Users with id > after (from the first when None), by id ascending."""

    def ids_on_plan(self, plan: str, after: str | None, limit: int) -> list[str]:
        """Ids of users on `plan` with id > after, ascending."""


class RefreshTokenRepository(Protocol):
    def add(self, token: RefreshToken) -> None:
        """Insert; raises DuplicateRecord for a taken hash or an unknown user."""

    def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        """The token, its row locked until the unit of work ends (FOR UPDATE on MySQL/MariaDB)."""

    def mark_used(self, token_id: str, at: datetime) -> None: ...

    def revoke_family(self, family_id: str, at: datetime) -> int:
        """Set revoked_at on every not-yet-revoked token of the family; how many changed."""

    def family(self, family_id: str) -> list[RefreshToken]:
        """Every token of the family, oldest first."""


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None:
        """Insert; raises DuplicateRecord for a taken hash or an unknown user."""

    def get(self, key_id: str) -> ApiKey | None: ...
    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...
    def revoke(self, key_id: str, at: datetime) -> None: ...
    def touch(self, key_id: str, at: datetime) -> None:
        """Record a use: sets last_used_at and nothing else."""

    def list_active(self, user_id: str, *, limit: int, after: tuple[datetime, str] | None = None) -> list[ApiKey]:
        """Non-revoked keys of the user by (created_at, id) ascending, strictly after `after`."""


class IdentityUnitOfWork(UnitOfWork, Protocol):
    # Read-only members: a unit of work with more specific repositories (the SQL and memory
    # ones) still is one of these.
    @property
    def users(self) -> UserRepository: ...
    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def logins(self) -> LoginRepository: ...  # login history (issue 15)
    @property
    def audit(self) -> AuditRepository: ...  # security events, in the transaction of the change (issue 15)


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password: str, hashed: str) -> bool:
        """False for a wrong password or a malformed hash; never raises for either."""


class TokenCodec(Protocol):
    """Signs and reads access tokens. `decode` checks signature, algorithm, issuer and audience and
    raises InvalidToken; expiry is the service's to check against its Clock."""

    def encode(self, claims: AccessClaims) -> str: ...
    def decode(self, token: str) -> AccessClaims: ...
