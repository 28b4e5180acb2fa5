"""In-memory identity repositories: copies in, copies out, the same answers and refusals as SQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.store import MemoryStore
from domain.identity.model import ApiKey, Principal, RefreshToken, User
from domain.shared.errors import DuplicateRecord, NotFound

USERS = "users"
REFRESH_TOKENS = "refresh_tokens"
API_KEYS = "api_keys"


def _duplicate() -> DuplicateRecord:
    return DuplicateRecord("The record already exists.")


class _Repository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    def _require_user(self, user_id: str) -> None:
        """The foreign key every SQL table has on users.id."""
        if user_id not in self._t(USERS):
            raise NotFound("What this refers to no longer exists (it was deleted meanwhile).")  # as SQL maps it


class InMemoryUserRepository(_Repository):
    def add(self, user: User) -> None:
        if user.id in self._t(USERS) or self._email_owner(user.email) is not None:
            raise _duplicate()
        self._t(USERS)[user.id] = replace(user)

    def get(self, user_id: str) -> User | None:
        found = self._t(USERS).get(user_id)
        return replace(found) if found is not None else None

    def get_for_update(self, user_id: str) -> User | None:
        return self.get(user_id)  # the memory unit of work already runs one at a time

    def get_for_access(self, user_id: str, family_id: str) -> tuple[Principal | None, bool]:
        user = self.get(user_id)
        if user is None:
            return None, False
        tokens: dict[str, RefreshToken] = self._t(REFRESH_TOKENS)
        revoked = any(t.family_id == family_id and t.revoked_at is not None for t in tokens.values())
        return Principal(user_id=user.id, role=user.role, plan=user.plan), revoked

    def get_by_email(self, email: str) -> User | None:
        owner = self._email_owner(email)
        return self.get(owner) if owner is not None else None

    def update(self, user: User) -> None:
        if user.id not in self._t(USERS):
            return  # like an UPDATE that matches no row
        if self._email_owner(user.email) not in (None, user.id):
            raise _duplicate()
        self._t(USERS)[user.id] = replace(user)

    def list_after(self, after: str | None, limit: int) -> list[User]:
        users = sorted((u for u in self._t(USERS).values() if after is None or u.id > after), key=lambda u: u.id)
        return [replace(u) for u in users[:limit]]

    def ids_on_plan(self, plan: str, after: str | None, limit: int) -> list[str]:
        ids = sorted(u.id for u in self._t(USERS).values() if u.plan == plan and (after is None or u.id > after))
        return ids[:limit]

    def _email_owner(self, email: str) -> str | None:
        for user in self._t(USERS).values():
            if user.email == email:
                return str(user.id)
        return None


class InMemoryRefreshTokenRepository(_Repository):
    def add(self, token: RefreshToken) -> None:
        self._require_user(token.user_id)
        tokens = self._t(REFRESH_TOKENS)
        if token.id in tokens or any(t.token_hash == token.token_hash for t in tokens.values()):
            raise _duplicate()
        tokens[token.id] = replace(token)

    def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        # The memory unit of work already serialises writers, which is what the row lock gives.
        tokens: dict[str, RefreshToken] = self._t(REFRESH_TOKENS)
        for token in tokens.values():
            if token.token_hash == token_hash:
                return replace(token)
        return None

    def mark_used(self, token_id: str, at: datetime) -> None:
        found = self._t(REFRESH_TOKENS).get(token_id)
        if found is not None:
            self._t(REFRESH_TOKENS)[token_id] = replace(found, used_at=at)

    def revoke_family(self, family_id: str, at: datetime) -> int:
        tokens = self._t(REFRESH_TOKENS)
        live = [t for t in tokens.values() if t.family_id == family_id and t.revoked_at is None]
        for token in live:
            tokens[token.id] = replace(token, revoked_at=at)
        return len(live)

    def family(self, family_id: str) -> list[RefreshToken]:
        members = [t for t in self._t(REFRESH_TOKENS).values() if t.family_id == family_id]
        return [replace(t) for t in sorted(members, key=lambda t: (t.created_at, t.id))]


class InMemoryApiKeyRepository(_Repository):
    def add(self, key: ApiKey) -> None:
        self._require_user(key.user_id)
        keys = self._t(API_KEYS)
        if key.id in keys or any(k.key_hash == key.key_hash for k in keys.values()):
            raise _duplicate()
        keys[key.id] = replace(key)

    def get(self, key_id: str) -> ApiKey | None:
        found = self._t(API_KEYS).get(key_id)
        return replace(found) if found is not None else None

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        keys: dict[str, ApiKey] = self._t(API_KEYS)
        for key in keys.values():
            if key.key_hash == key_hash:
                return replace(key)
        return None

    def revoke(self, key_id: str, at: datetime) -> None:
        self._set(key_id, revoked_at=at)

    def touch(self, key_id: str, at: datetime) -> None:
        self._set(key_id, last_used_at=at)

    def list_active(self, user_id: str, *, limit: int, after: tuple[datetime, str] | None = None) -> list[ApiKey]:
        keys = sorted(
            (k for k in self._t(API_KEYS).values() if k.user_id == user_id and k.revoked_at is None),
            key=lambda k: (k.created_at, k.id),
        )
        if after is not None:
            keys = [k for k in keys if (k.created_at, k.id) > after]
        return [replace(k) for k in keys[:limit]]

    def _set(self, key_id: str, **changes: Any) -> None:
        found = self._t(API_KEYS).get(key_id)
        if found is not None:
            self._t(API_KEYS)[key_id] = replace(found, **changes)
