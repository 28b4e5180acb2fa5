"""Login history: who tried to sign in, from where, and how it ended. Never a secret: no
password, token, key or hash goes into a record. Admins read it through domain.platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

USER_AGENT_MAX_LENGTH = 255
IP_MAX_LENGTH = 45  # the longest textual IPv6 address
EMAIL_MAX_LENGTH = 320


class LoginEvent(StrEnum):
    LOGIN = "login"  # a password sign-in, right or wrong
    REFRESH_REUSE = "refresh_reuse"  # a spent refresh token came back: its family was revoked
    LOGOUT = "logout"  # the user revoked a refresh family


class LoginFailure(StrEnum):
    UNKNOWN_EMAIL = "unknown_email"
    WRONG_PASSWORD = "wrong_password"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a request came from, as the HTTP layer saw it (cut to the stored lengths)."""

    ip: str | None = None
    user_agent: str | None = None

    def clean(self) -> ClientInfo:
        ip = (self.ip or "")[:IP_MAX_LENGTH] or None
        agent = (self.user_agent or "")[:USER_AGENT_MAX_LENGTH] or None
        return ClientInfo(ip=ip, user_agent=agent)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    id: str
    at: datetime
    event: LoginEvent
    success: bool
    user_id: str | None  # None when the email matches no account
    email: str | None  # the (normalised) email tried; never the password
    ip: str | None
    user_agent: str | None
    reason: str | None = None  # a LoginFailure value for failures


class LoginRepository(Protocol):
    def add(self, attempt: LoginAttempt) -> None: ...

    def list_for_user(
        self, user_id: str, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[LoginAttempt]:
        """The user's attempts, newest first by (at, id) descending, strictly before `before`."""
