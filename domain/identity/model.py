"""Users, refresh-token families and API keys, and the rules on their values."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.shared.errors import InvalidInput

FREE_PLAN = "free"
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128  # characters; longer ones are refused, never cut
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 200
API_KEY_NAME_MAX_LENGTH = 100
API_KEY_SCHEME = "hk_"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PREFIX_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(slots=True)
class User:
    id: str
    email: str  # lower-cased
    password_hash: str = field(repr=False)
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

    @property
    def spent(self) -> bool:
        """Already rotated or revoked: presenting it again is a reuse."""
        return self.used_at is not None or self.revoked_at is not None


@dataclass(slots=True)
class ApiKey:
    id: str
    user_id: str
    name: str
    prefix: str  # shown in lists, recognisable in a leak: "hk_ab12cd34"
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
    plan: str = FREE_PLAN  # for per-plan rate limits

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What an access token says. The codec adds and checks issuer and audience."""

    user_id: str
    role: Role
    issued_at: datetime
    expires_at: datetime
    token_id: str
    family_id: str | None = None  # the refresh-token family it was issued with: revoking it ends this token


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A fresh key: the plaintext is shown once; only its hash is stored."""

    plaintext: str = field(repr=False)
    prefix: str
    key_hash: str


# --- rules on values ---------------------------------------------------------------------------
def normalize_email(email: str) -> str:
    """Emails are case-insensitive: compare and store them stripped and lower-cased."""
    cleaned = email.strip().lower()
    if len(cleaned) > EMAIL_MAX_LENGTH or not _EMAIL.match(cleaned):
        raise InvalidInput("Not a valid email address.", details={"email": "Not a valid email address."})
    return cleaned


def check_password(password: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        message = f"Length must be between {PASSWORD_MIN_LENGTH} and {PASSWORD_MAX_LENGTH}."
        raise InvalidInput("The password is too short or too long.", details={"password": message})


def clean_name(name: str | None, *, field: str = "name", max_length: int = NAME_MAX_LENGTH) -> str | None:
    """Strip a display name; blank means none. Too long is refused."""
    if name is None or not name.strip():
        return None
    cleaned = name.strip()
    if len(cleaned) > max_length:
        raise InvalidInput(f"The {field} is too long.", details={field: f"Longer than {max_length}."})
    return cleaned


# --- opaque secrets ----------------------------------------------------------------------------
def hash_secret(secret: str) -> str:
    """Refresh tokens and API keys are high-entropy, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> IssuedApiKey:
    """`hk_<8-char prefix>_<secret>`: the prefix is listed, the whole key is looked up by its hash."""
    prefix = API_KEY_SCHEME + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedApiKey(plaintext=plaintext, prefix=prefix, key_hash=hash_secret(plaintext))
