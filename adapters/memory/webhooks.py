"""In-memory repositories of outgoing webhooks and notifications (the SQL ones' twins)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from adapters.memory.store import MemoryStore
from domain.platform.notifications_model import Notification, Preference
from domain.platform.webhooks_model import Attempt, Endpoint, Message, MessageStatus, StoredEvent


class InMemoryWebhookRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self._t("webhook_endpoints")[endpoint.id] = copy.copy(endpoint)

    def get_endpoint(self, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None:
        found = self._t("webhook_endpoints").get(endpoint_id)
        return copy.copy(found) if found else None

    def update_endpoint(self, endpoint: Endpoint) -> None:
        self._t("webhook_endpoints")[endpoint.id] = copy.copy(endpoint)

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._t("webhook_endpoints").pop(endpoint_id, None)
        for table in ("webhook_messages", "webhook_attempts"):
            rows = self._t(table)
            for key in [k for k, v in rows.items() if v.endpoint_id == endpoint_id]:
                del rows[key]

    def endpoints_of(self, user_id: str, *, after: str | None, limit: int) -> list[Endpoint]:
        rows = [
            e for e in self._t("webhook_endpoints").values() if e.user_id == user_id and (after is None or e.id < after)
        ]
        return [copy.copy(e) for e in sorted(rows, key=lambda e: e.id, reverse=True)[:limit]]

    def count_endpoints(self, user_id: str) -> int:
        return sum(1 for e in self._t("webhook_endpoints").values() if e.user_id == user_id)

    def add_event(self, event: StoredEvent) -> bool:
        events = self._t("platform_events")
        if event.id in events:
            return False
        events[event.id] = event
        return True

    def get_event(self, event_id: str) -> StoredEvent | None:
        found: StoredEvent | None = self._t("platform_events").get(event_id)
        return found

    def events_since(self, user_id: str, since: datetime, *, limit: int) -> list[StoredEvent]:
        rows = [
            e
            for e in self._t("platform_events").values()
            if e.user_id == user_id and e.created_at and e.created_at >= since
        ]
        return sorted(rows, key=lambda e: (e.created_at, e.id))[:limit]

    def add_message(self, message: Message) -> bool:
        messages = self._t("webhook_messages")
        if any(m.dedupe_key == message.dedupe_key for m in messages.values()):
            return False
        messages[message.id] = copy.copy(message)
        return True

    def get_message(self, message_id: str, *, for_update: bool = False) -> Message | None:
        found = self._t("webhook_messages").get(message_id)
        return copy.copy(found) if found else None

    def update_message(self, message: Message) -> None:
        self._t("webhook_messages")[message.id] = copy.copy(message)

    def due_messages(self, now: datetime, *, limit: int) -> list[str]:
        rows = [
            m
            for m in self._t("webhook_messages").values()
            if m.status is MessageStatus.PENDING and m.next_attempt_at is not None and m.next_attempt_at <= now
        ]
        return [m.id for m in sorted(rows, key=lambda m: m.next_attempt_at)[:limit]]

    def messages_of(self, endpoint_id: str, status: str, *, limit: int) -> list[Message]:
        rows = [
            m for m in self._t("webhook_messages").values() if m.endpoint_id == endpoint_id and m.status.value == status
        ]
        return [copy.copy(m) for m in sorted(rows, key=lambda m: (m.created_at, m.id))[:limit]]

    def drop_backlog_over(self, endpoint_id: str, keep: int) -> int:
        rows = self.messages_of(endpoint_id, MessageStatus.BACKLOG.value, limit=10**9)
        dropped = rows[: max(0, len(rows) - keep)]
        for message in dropped:
            message.status = MessageStatus.FAILED
            self.update_message(message)
        return len(dropped)

    def add_attempt(self, attempt: Attempt) -> None:
        self._t("webhook_attempts")[attempt.id] = attempt

    def purge_events(self, before: datetime, limit: int) -> int:
        waiting = (MessageStatus.PENDING, MessageStatus.BACKLOG)
        needed = {m.event_id for m in self._t("webhook_messages").values() if m.status in waiting}
        old = sorted(
            (
                e
                for e in self._t("platform_events").values()
                if e.created_at is not None and e.created_at < before and e.id not in needed
            ),
            key=lambda e: e.created_at,
        )[:limit]
        for event in old:
            del self._t("platform_events")[event.id]
        return len(old)

    def purge_messages(self, before: datetime, limit: int) -> int:
        finished = (MessageStatus.SUCCEEDED, MessageStatus.FAILED)
        events = self._t("platform_events")
        old = sorted(
            (
                m
                for m in self._t("webhook_messages").values()
                if m.status in finished and m.created_at < before and m.event_id not in events
            ),
            key=lambda m: m.created_at,
        )[:limit]
        for message in old:
            del self._t("webhook_messages")[message.id]
        return len(old)

    def purge_attempts(self, before: datetime, limit: int) -> int:
        old = sorted(
            (a for a in self._t("webhook_attempts").values() if a.created_at < before), key=lambda a: a.created_at
        )[:limit]
        for attempt in old:
            del self._t("webhook_attempts")[attempt.id]
        return len(old)

    def attempts_of(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Attempt]:
        rows = [
            a
            for a in self._t("webhook_attempts").values()
            if a.endpoint_id == endpoint_id and (after is None or a.id < after)
        ]
        return sorted(rows, key=lambda a: a.id, reverse=True)[:limit]


class InMemoryNotificationRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    def add(self, notification: Notification) -> bool:
        rows = self._t("notifications")
        if any(n.dedupe_key == notification.dedupe_key for n in rows.values()):
            return False
        rows[notification.id] = copy.deepcopy(notification)
        return True

    def get(self, notification_id: str) -> Notification | None:
        found: Notification | None = self._t("notifications").get(notification_id)
        return copy.deepcopy(found) if found else None

    def list(self, user_id: str, *, unread_only: bool, after: str | None, limit: int) -> list[Notification]:
        rows = [
            n
            for n in self._t("notifications").values()
            if n.user_id == user_id
            and n.in_app
            and (not unread_only or n.read_at is None)
            and (after is None or n.id < after)
        ]
        return [copy.deepcopy(n) for n in sorted(rows, key=lambda n: n.id, reverse=True)[:limit]]

    def unread_count(self, user_id: str) -> int:
        return sum(
            1 for n in self._t("notifications").values() if n.user_id == user_id and n.in_app and n.read_at is None
        )

    def mark_read(self, user_id: str, notification_id: str, at: datetime) -> Notification | None:
        found: Notification | None = self._t("notifications").get(notification_id)
        if found is None or found.user_id != user_id or not found.in_app:
            return None
        if found.read_at is None:
            found.read_at = at
        return copy.deepcopy(found)

    def mark_all_read(self, user_id: str, at: datetime) -> int:
        count = 0
        for n in self._t("notifications").values():
            if n.user_id == user_id and n.in_app and n.read_at is None:
                n.read_at, count = at, count + 1
        return count

    def purge_read(self, before: datetime, limit: int) -> int:
        old = sorted(
            (n for n in self._t("notifications").values() if n.read_at is not None and n.read_at < before),
            key=lambda n: n.read_at,
        )[:limit]
        for notification in old:
            del self._t("notifications")[notification.id]
        return len(old)

    def preferences(self, user_id: str) -> dict[str, Preference]:
        return {t: p for (u, t), p in self._t("notification_preferences").items() if u == user_id}

    def set_preference(self, user_id: str, type_: str, preference: Preference) -> None:
        self._t("notification_preferences")[(user_id, type_)] = preference

    def state(self, user_id: str, key: str) -> dict[str, Any] | None:
        found = self._t("notification_state").get((user_id, key))
        return dict(found) if found is not None else None

    def set_state(self, user_id: str, key: str, value: dict[str, Any], at: datetime) -> None:
        self._t("notification_state")[(user_id, key)] = dict(value)
