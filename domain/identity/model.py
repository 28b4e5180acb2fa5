"""Users, refresh-token families and API keys."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(slots=True)
class User:
    id: str
    email: str  # lower-cased
    password_hash: str
    role: Role
    plan: str
    created_at: datetime
    updated_at: datetime
    name: str | None = None


@dataclass(slots=True)
class RefreshToken:
    """One opaque refresh token, stored only as its hash. Tokens rotated from one login share a family."""

    id: str
    user_id: str
    family_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(slots=True)
class ApiKey:
    id: str
    user_id: str
    name: str
    prefix: str  # shown in lists, recognisable in a leak: "hk_live_ab12cd34"
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, their role, and the API key used if any."""

    user_id: str
    role: Role
    api_key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
