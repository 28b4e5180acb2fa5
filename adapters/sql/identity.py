"""SQL identity repositories over SQLAlchemy Core, with explicit row <-> entity mapping. Never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from adapters.sql.db import Db, Precompiled
from adapters.sql.tables import api_keys, refresh_tokens, users
from domain.identity.model import ApiKey, Principal, RefreshToken, Role, User


# --- mapping ---------------------------------------------------------------------------------
def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        role=Role(row["role"]),
        plan=row["plan"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        name=row["name"],
    )


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "password_hash": user.password_hash,
        "name": user.name,
        "role": user.role.value,
        "plan": user.plan,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _token(row: RowMapping) -> RefreshToken:
    return RefreshToken(
        id=row["id"],
        user_id=row["user_id"],
        family_id=row["family_id"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked_at=row["revoked_at"],
    )


def _token_row(token: RefreshToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "user_id": token.user_id,
        "family_id": token.family_id,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "revoked_at": token.revoked_at,
    }


def _key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        prefix=row["prefix"],
        key_hash=row["key_hash"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "prefix": key.prefix,
        "key_hash": key.key_hash,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    }


# --- repositories ----------------------------------------------------------------------------
# Authenticating an access token, on every request: the user and its token's family in one read.
_FOR_ACCESS = select(
    users.c.id,
    users.c.role,
    users.c.plan,
    exists()
    .where(refresh_tokens.c.family_id == bindparam("family_id"), refresh_tokens.c.revoked_at.is_not(None))
    .label("family_revoked"),
).where(users.c.id == bindparam("user_id"))


_HOT_FOR_ACCESS = Precompiled(_FOR_ACCESS)


class SqlUserRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, user: User) -> None:
        self._db.execute(insert(users).values(_user_row(user)))

    def get(self, user_id: str) -> User | None:
        row = self._db.execute(select(users).where(users.c.id == user_id)).mappings().first()
        return _user(row) if row is not None else None

    def get_for_update(self, user_id: str) -> User | None:
        row = self._db.execute(select(users).where(users.c.id == user_id).with_for_update()).mappings().first()
        return _user(row) if row is not None else None

    def get_for_access(self, user_id: str, family_id: str) -> tuple[Principal | None, bool]:
        rows = self._db.execute_precompiled(_HOT_FOR_ACCESS, {"user_id": user_id, "family_id": family_id})
        if not rows:
            return None, False
        row = rows[0]
        found_id, role, plan, revoked = tuple(row)  # driver values: strings, and 0 or 1
        return Principal(user_id=str(found_id), role=Role(role), plan=str(plan)), bool(revoked)

    def get_by_email(self, email: str) -> User | None:
        row = self._db.execute(select(users).where(users.c.email == email)).mappings().first()
        return _user(row) if row is not None else None

    def update(self, user: User) -> None:
        values = _user_row(user)
        del values["id"], values["created_at"]
        self._db.execute(update(users).where(users.c.id == user.id).values(values))

    def list_after(self, after: str | None, limit: int) -> list[User]:
        query = select(users).order_by(users.c.id).limit(limit)
        if after is not None:
            query = query.where(users.c.id > after)
        return [_user(row) for row in self._db.execute(query).mappings()]

    def ids_on_plan(self, plan: str, after: str | None, limit: int) -> list[str]:
        query = select(users.c.id).where(users.c.plan == plan).order_by(users.c.id).limit(limit)
        if after is not None:
            query = query.where(users.c.id > after)
        return [str(user_id) for user_id in self._db.execute(query).scalars()]


class SqlRefreshTokenRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, token: RefreshToken) -> None:
        self._db.execute(insert(refresh_tokens).values(_token_row(token)))

    def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update()
        row = self._db.execute(query).mappings().first()
        return _token(row) if row is not None else None

    def mark_used(self, token_id: str, at: datetime) -> None:
        self._db.execute(update(refresh_tokens).where(refresh_tokens.c.id == token_id).values(used_at=at))

    def revoke_family(self, family_id: str, at: datetime) -> int:
        statement = (
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(self._db.execute(statement).rowcount)

    def family(self, family_id: str) -> list[RefreshToken]:
        query = (
            select(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id)
            .order_by(refresh_tokens.c.created_at, refresh_tokens.c.id)
        )
        return [_token(row) for row in self._db.execute(query).mappings()]


class SqlApiKeyRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, key: ApiKey) -> None:
        self._db.execute(insert(api_keys).values(_key_row(key)))

    def get(self, key_id: str) -> ApiKey | None:
        row = self._db.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
        return _key(row) if row is not None else None

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._db.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).mappings().first()
        return _key(row) if row is not None else None

    def revoke(self, key_id: str, at: datetime) -> None:
        self._db.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=at))

    def touch(self, key_id: str, at: datetime) -> None:
        self._db.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=at))

    def list_active(self, user_id: str, *, limit: int, after: tuple[datetime, str] | None = None) -> list[ApiKey]:
        query = (
            select(api_keys)
            .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.created_at, api_keys.c.id)
            .limit(limit)
        )
        if after is not None:
            created_at, key_id = after
            later = api_keys.c.created_at > created_at
            query = query.where(or_(later, and_(api_keys.c.created_at == created_at, api_keys.c.id > key_id)))
        return [_key(row) for row in self._db.execute(query).mappings()]
