"""Notification use cases: write to the inbox (and queue the email) in the caller's transaction;
the inbox routes; preferences; the email job; one-click unsubscribe.

`notify(uow, ...)` is called inside the unit of work of the change (or of the event fan-out), so
a notification exists exactly when its cause committed. It is stored once per `dedupe_key`: a
repeated event, a retried job or a second relay of the same outbox row notifies nobody twice.
The email leaves as its own outbox job (`notifications.email`, retried), keyed by the
notification id, so a mail server that is down delays the email and never loses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.platform.notifications_model import (
    NOTIFICATION_TYPES,
    LowBalancePolicy,
    Mailer,
    Notification,
    Preference,
    default_preference,
    optional,
)
from domain.platform.webhooks_ports import PlatformEventsUnitOfWork
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.ids import IdGenerator
from domain.shared.jobs import Job, RetryPolicy
from domain.shared.pagination import Page, check_limit, id_cursor, id_position, page_of
from domain.shared.uow import transaction

EMAIL_JOB = "notifications.email"
EMAIL_RETRY = RetryPolicy(max_retries=5, intervals=(30, 120, 600, 1800, 3600))


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    public_base_url: str = "http://127.0.0.1:8000"
    unsubscribe_key: bytes = b""
    low_balance: LowBalancePolicy = LowBalancePolicy()


class Notifications:
    def __init__(
        self,
        *,
        uow: Callable[[], PlatformEventsUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        mailer: Mailer,
        config: NotificationsConfig,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._mailer = mailer
        self.config = config

    # --- writing (inside the caller's unit of work) -------------------------------------------
    def notify(
        self,
        uow: PlatformEventsUnitOfWork,
        user_id: str,
        type_: str,
        *,
        title: str,
        body: str,
        dedupe_key: str,
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Notify `user_id` once per `dedupe_key` on the channels their preferences allow."""
        if type_ not in NOTIFICATION_TYPES:
            raise ValueError(f"unknown notification type {type_!r}")
        preference = self._preference(uow, user_id, type_)
        notification = Notification(
            id=self._ids.new_id("ntf"),
            user_id=user_id,
            type=type_,
            title=title[:200],
            body=body,
            data=dict(data or {}),
            dedupe_key=f"{type_}:{dedupe_key}"[:200],
            created_at=self._clock.now(),
            in_app=preference.in_app,
        )
        if not uow.notifications.add(notification):
            return False
        if preference.email:
            uow.enqueue(
                Job(
                    EMAIL_JOB,
                    {"notification_id": notification.id},
                    job_id=f"email-{notification.id}",
                    retry=EMAIL_RETRY,
                )
            )
        return True

    def low_balance(self, uow: PlatformEventsUnitOfWork, user_id: str, available: int, event_id: str) -> bool:
        """Hysteresis and cooldown: notify on a fall below the threshold only when armed (the
        balance has been at `rearm_at` or more since the last notice, or there was none) and the
        cooldown has passed since the last notice."""
        policy = self.config.low_balance
        now = self._clock.now()
        state = uow.notifications.state(user_id, "low_balance") or {"armed": True, "last": None}
        if not state.get("armed"):
            return False
        last = state.get("last")
        if last is not None and now - datetime.fromisoformat(last) < policy.cooldown:
            return False
        uow.notifications.set_state(user_id, "low_balance", {"armed": False, "last": now.isoformat()}, now)
        return self.notify(
            uow,
            user_id,
            "low_balance",
            title="Your credit balance is low",
            body=f"You have {available} credits available.",
            dedupe_key=event_id,
            data={"available": available},
        )

    def rearm_low_balance(self, user_id: str) -> None:
        """The balance rose to the re-arm level: the next fall below the threshold notifies again
        (once the cooldown has passed)."""

        def work(uow: PlatformEventsUnitOfWork) -> None:
            state = uow.notifications.state(user_id, "low_balance")
            if state is not None and not state.get("armed"):
                uow.notifications.set_state(user_id, "low_balance", {**state, "armed": True}, self._clock.now())

        transaction(self._uow, work)

    def new_login(self, user_id: str, attempt_id: str, ip: str | None, user_agent: str | None) -> bool:
        """Security: notify a sign-in from an address none of the user's earlier sign-ins came from
        (the last 200 looked at; the very first sign-in is not news)."""
        if not ip:
            return False

        def work(uow: PlatformEventsUnitOfWork) -> bool:
            earlier = [
                a
                for a in uow.logins.list_for_user(user_id, limit=200)
                if a.success and a.event.value == "login" and a.id != attempt_id
            ]
            if not earlier or any(a.ip == ip for a in earlier):
                return False
            sent = self.notify(
                uow,
                user_id,
                "security_new_login",
                title="New sign-in to your account",
                body=f"Someone signed in from {ip} ({(user_agent or 'unknown device')[:100]}). "
                "If it was not you, change your password now.",
                dedupe_key=attempt_id,
                data={"ip": ip},
            )
            return sent

        return transaction(self._uow, work)

    def _preference(self, uow: PlatformEventsUnitOfWork, user_id: str, type_: str) -> Preference:
        chosen = uow.notifications.preferences(user_id).get(type_, default_preference(type_))
        if not optional(type_):
            return Preference(in_app=True, email=True)
        return chosen

    # --- the inbox ----------------------------------------------------------------------------
    def inbox(
        self, user_id: str, *, unread_only: bool, limit: int, cursor: str | None
    ) -> tuple[Page[Notification], int]:
        check_limit(limit)
        after = id_cursor(cursor)
        with self._uow() as uow:
            items = uow.notifications.list(user_id, unread_only=unread_only, after=after, limit=limit + 1)
            unread = uow.notifications.unread_count(user_id)
        return page_of(items, limit, id_position), unread

    def read(self, user_id: str, notification_id: str) -> Notification:
        def work(uow: PlatformEventsUnitOfWork) -> Notification:
            found = uow.notifications.mark_read(user_id, notification_id, self._clock.now())
            if found is None:
                raise NotFound("No such notification.")
            return found

        return transaction(self._uow, work)

    def read_all(self, user_id: str) -> int:
        def work(uow: PlatformEventsUnitOfWork) -> int:
            updated = uow.notifications.mark_all_read(user_id, self._clock.now())
            return updated

        return transaction(self._uow, work)

    # --- preferences --------------------------------------------------------------------------
    def preferences(self, user_id: str) -> dict[str, Preference]:
        with self._uow() as uow:
            return self._all_preferences(uow, user_id)

    def set_preferences(self, user_id: str, changes: Mapping[str, Mapping[str, bool]]) -> dict[str, Preference]:
        errors: dict[str, str] = {}
        for type_, channels in changes.items():
            if type_ not in NOTIFICATION_TYPES:
                errors[type_] = "Unknown notification type."
            elif not optional(type_) and not all(channels.values()):
                errors[type_] = "Payment and security notifications cannot be turned off."
        if errors:
            raise InvalidInput("Some preferences cannot be set.", details=errors)

        def work(uow: PlatformEventsUnitOfWork) -> dict[str, Preference]:
            current = self._all_preferences(uow, user_id)
            for type_, channels in changes.items():
                old = current[type_]
                uow.notifications.set_preference(
                    user_id,
                    type_,
                    Preference(in_app=channels.get("in_app", old.in_app), email=channels.get("email", old.email)),
                )
            result = self._all_preferences(uow, user_id)
            return result

        return transaction(self._uow, work)

    def _all_preferences(self, uow: PlatformEventsUnitOfWork, user_id: str) -> dict[str, Preference]:
        return {type_: self._preference(uow, user_id, type_) for type_ in NOTIFICATION_TYPES}

    # --- email --------------------------------------------------------------------------------
    def send_email(self, notification_id: str) -> bool:
        """The email job: send one notification's email (False when there is nothing to send:
        the user is gone or has turned email off since)."""
        with self._uow() as uow:
            notification = uow.notifications.get(notification_id)
            user = uow.users.get(notification.user_id) if notification is not None else None
            preference = self._preference(uow, user.id, notification.type) if user and notification else None
        if notification is None or user is None or preference is None or not preference.email:
            return False
        unsubscribe = self.unsubscribe_url(user.id, notification.type) if optional(notification.type) else None
        self._mailer.send(user, notification, unsubscribe)
        return True

    def unsubscribe_url(self, user_id: str, type_: str) -> str:
        return f"{self.config.public_base_url.rstrip('/')}/v1/notifications/unsubscribe?token={self._token(user_id, type_)}"

    def _token(self, user_id: str, type_: str) -> str:
        raw = f"{user_id}:{type_}".encode()
        mac = hmac.new(self.config.unsubscribe_key, raw, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(raw + b"." + mac).decode().rstrip("=")

    def unsubscribe(self, token: str) -> tuple[str, str]:
        """Turn email off for the (user, type) the signed token names; return them."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = raw[:-17]  # the MAC after it is checked on the whole token below
            user_id, type_ = payload.decode().split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("The unsubscribe link is not valid.", details={"token": "Not valid."}) from None
        if not hmac.compare_digest(self._token(user_id, type_), token.rstrip("=")) or not optional(type_):
            raise InvalidInput("The unsubscribe link is not valid.", details={"token": "Not valid."})
        self.set_preferences(user_id, {type_: {"email": False}})
        return user_id, type_
