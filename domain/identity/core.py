"""What identity's use cases share: the token policy, the sign-in result, and how a sign-in is issued."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.identity.model import AccessClaims, RefreshToken, User, hash_secret, new_refresh_secret
from domain.identity.ports import IdentityUnitOfWork, TokenCodec
from domain.shared.ids import IdGenerator

UserCreatedHook = Callable[[Any, User], None]  # hook(uow, user), inside the registering unit of work


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    access_ttl: int  # seconds
    refresh_ttl: int  # seconds


@dataclass(frozen=True, slots=True)
class AuthResult:
    user: User
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)  # the opaque plaintext; only its hash is stored
    expires_in: int  # seconds until the access token expires
    token_type: str = "Bearer"


class TokenIssuer:
    """Issues a sign-in: a new access token and a new refresh token, for registering, login and
    refresh alike."""

    def __init__(self, *, ids: IdGenerator, tokens: TokenCodec, policy: TokenPolicy) -> None:
        self._ids = ids
        self._tokens = tokens
        self._policy = policy

    def issue(self, uow: IdentityUnitOfWork, user: User, now: datetime, *, family_id: str | None) -> AuthResult:
        """A new access token and a new refresh token (in `family_id`, or a new family)."""
        secret = new_refresh_secret()
        family_id = family_id or self._ids.new_id("rtf")
        uow.refresh_tokens.add(
            RefreshToken(
                id=self._ids.new_id("rt"),
                user_id=user.id,
                family_id=family_id,
                token_hash=hash_secret(secret),
                created_at=now,
                expires_at=now + timedelta(seconds=self._policy.refresh_ttl),
            )
        )
        expires_at = now + timedelta(seconds=self._policy.access_ttl)
        claims = AccessClaims(user.id, user.role, now, expires_at, secrets.token_hex(16), family_id=family_id)
        return AuthResult(user, self._tokens.encode(claims), secret, self._policy.access_ttl)
