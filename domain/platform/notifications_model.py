"""Notifications: an in-app inbox and email, with per-user preferences per channel and type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.identity.model import User

# type -> may the user turn it off? Payment and security notifications cannot be turned off; nor
# can "your webhook endpoint was disabled" (an endpoint is never disabled silently).
NOTIFICATION_TYPES: Mapping[str, bool] = {
    "payment_succeeded": False,
    "payment_failed": False,
    "security_new_login": False,
    "webhook_endpoint_disabled": False,
    "webhook_endpoint_failing": True,
    "low_balance": True,
    "credits_expiring": True,
    "subscription_renewing": True,
    "subscription_cancelled": True,
    "task_finished": True,
    "workspace_invitation": True,
}
# Off by email unless the user turns it on (a finished task is seen in the app).
EMAIL_OFF_BY_DEFAULT = frozenset({"task_finished"})


def optional(type_: str) -> bool:
    return NOTIFICATION_TYPES.get(type_, True)


@dataclass(frozen=True, slots=True)
class Preference:
    in_app: bool = True
    email: bool = True


def default_preference(type_: str) -> Preference:
    return Preference(in_app=True, email=type_ not in EMAIL_OFF_BY_DEFAULT)


@dataclass(frozen=True, slots=True)
class LowBalancePolicy:
    """Low balance: notify when the available balance falls below `threshold`, then not again
    until it has risen to `rearm_at` or more (hysteresis) AND `cooldown` has passed."""

    threshold: int = 20
    rearm_at: int = 50
    cooldown: timedelta = timedelta(days=3)


@dataclass(slots=True)
class Notification:
    id: str
    user_id: str
    type: str
    title: str
    body: str
    data: dict[str, Any]
    dedupe_key: str  # one notification per key, ever: repeats of an event notify once
    created_at: datetime
    in_app: bool = True
    read_at: datetime | None = None


class NotificationRepository(Protocol):
    def add(self, notification: Notification) -> bool:
        """Store once; False when the dedupe key is already stored."""

    def get(self, notification_id: str) -> Notification | None: ...
    def list(self, user_id: str, *, unread_only: bool, after: str | None, limit: int) -> list[Notification]:
        """In-app notifications, newest first (id descending), ids < after."""

    def unread_count(self, user_id: str) -> int: ...
    def mark_read(self, user_id: str, notification_id: str, at: datetime) -> Notification | None: ...
    def mark_all_read(self, user_id: str, at: datetime) -> int: ...
    def preferences(self, user_id: str) -> dict[str, Preference]:
        """Only the types the user changed; the others have their default."""

    def set_preference(self, user_id: str, type_: str, preference: Preference) -> None: ...
    def purge_read(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` notifications read before `before`; return how many."""

    def state(self, user_id: str, key: str) -> dict[str, Any] | None: ...
    def set_state(self, user_id: str, key: str, value: dict[str, Any], at: datetime) -> None: ...


class Mailer(Protocol):
    def send(self, user: User, notification: Notification, unsubscribe_url: str | None) -> None:
        """Render (plain and HTML) and send one notification email; raise Unavailable when the
        mail server does not take it (the job is retried)."""
