"""Login history and the audit log: append-only records of who signed in and who changed what.

Neither ever holds a secret: no password, token, key or hash goes into `reason` or `details`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

USER_AGENT_MAX_LENGTH = 255
IP_MAX_LENGTH = 45  # the longest textual IPv6 address
EMAIL_MAX_LENGTH = 320
AUDIT_FILTER_MAX_LENGTH = 64
SEARCH_MAX_LENGTH = 254

DetailValue = str | int | bool | None


class LoginEvent(StrEnum):
    LOGIN = "login"  # a password sign-in, right or wrong
    REFRESH_REUSE = "refresh_reuse"  # a spent refresh token came back: its family was revoked
    LOGOUT = "logout"  # the user revoked a refresh family


class LoginFailure(StrEnum):
    UNKNOWN_EMAIL = "unknown_email"
    WRONG_PASSWORD = "wrong_password"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"


class AuditAction(StrEnum):
    CREDITS_ADJUSTED = "credits.adjusted"
    ROLE_CHANGED = "user.role_changed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    PASSWORD_CHANGED = "user.password_changed"
    REFUND_REQUESTED = "payment.refund_requested"


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


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One admin action or security event. `actor_id` is the user who acted (None: the system)."""

    id: str
    at: datetime
    actor_id: str | None
    action: str
    subject_type: str  # "user", "api_key", ...
    subject_id: str
    details: Mapping[str, DetailValue] = field(default_factory=dict)
