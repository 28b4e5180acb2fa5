"""SQL repositories of outgoing webhooks and notifications (issue 22). Never commit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import RowMapping

from adapters.sql.outbox_tables import (
    notification_preferences,
    notification_state,
    notifications,
    platform_events,
    webhook_attempts,
    webhook_endpoints,
    webhook_messages,
)
from domain.platform.notifications_model import Notification, Preference
from domain.platform.webhooks_model import Attempt, Endpoint, EndpointStatus, Message, MessageStatus, StoredEvent
from domain.shared.errors import DuplicateRecord

if TYPE_CHECKING:
    from adapters.sql.db import Db


def _endpoint(row: RowMapping) -> Endpoint:
    return Endpoint(
        id=row["id"],
        user_id=row["user_id"],
        url=row["url"],
        events=tuple(json.loads(row["events"])),
        description=row["description"],
        status=EndpointStatus(row["status"]),
        secret=row["secret"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        disabled_reason=row["disabled_reason"],
        previous_secret=row["previous_secret"],
        previous_valid_until=row["previous_valid_until"],
        failing_since=row["failing_since"],
        failing_notified=bool(row["failing_notified"]),
    )


def _endpoint_values(e: Endpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "user_id": e.user_id,
        "url": e.url,
        "events": json.dumps(list(e.events)),
        "description": e.description,
        "status": e.status.value,
        "disabled_reason": e.disabled_reason,
        "secret": e.secret,
        "previous_secret": e.previous_secret,
        "previous_valid_until": e.previous_valid_until,
        "failing_since": e.failing_since,
        "failing_notified": e.failing_notified,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    }


def _message(row: RowMapping) -> Message:
    return Message(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        dedupe_key=row["dedupe_key"],
        status=MessageStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _attempt(row: RowMapping) -> Attempt:
    return Attempt(**{key: row[key] for key in Attempt.__slots__})


class SqlWebhookRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    # endpoints
    def add_endpoint(self, endpoint: Endpoint) -> None:
        self._db.execute(insert(webhook_endpoints).values(_endpoint_values(endpoint)))

    def get_endpoint(self, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        row = self._db.execute(query.with_for_update() if for_update else query).mappings().first()
        return _endpoint(row) if row else None

    def update_endpoint(self, endpoint: Endpoint) -> None:
        values = _endpoint_values(endpoint)
        self._db.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint.id).values(values))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._db.execute(delete(webhook_attempts).where(webhook_attempts.c.endpoint_id == endpoint_id))
        self._db.execute(delete(webhook_messages).where(webhook_messages.c.endpoint_id == endpoint_id))
        self._db.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))

    def endpoints_of(self, user_id: str, *, after: str | None, limit: int) -> list[Endpoint]:
        c = webhook_endpoints.c
        query = select(webhook_endpoints).where(c.user_id == user_id)
        if after is not None:
            query = query.where(c.id < after)
        rows = self._db.execute(query.order_by(c.id.desc()).limit(limit)).mappings()
        return [_endpoint(row) for row in rows]

    def count_endpoints(self, user_id: str) -> int:
        c = webhook_endpoints.c
        return int(self._db.execute(select(func.count()).where(c.user_id == user_id)).scalar_one())

    # events
    def add_event(self, event: StoredEvent) -> bool:
        if self.get_event(event.id) is not None:
            return False
        try:
            self._db.execute(
                insert(platform_events).values(
                    id=event.id,
                    user_id=event.user_id,
                    type=event.type,
                    body=json.dumps(event.body),
                    created_at=event.created_at,
                )
            )
        except DuplicateRecord:
            return False
        return True

    def get_event(self, event_id: str) -> StoredEvent | None:
        row = self._db.execute(select(platform_events).where(platform_events.c.id == event_id)).mappings().first()
        return (
            StoredEvent(row["id"], row["user_id"], row["type"], json.loads(row["body"]), row["created_at"])
            if row
            else None
        )

    def events_since(self, user_id: str, since: datetime, *, limit: int) -> list[StoredEvent]:
        c = platform_events.c
        rows = self._db.execute(
            select(platform_events)
            .where(c.user_id == user_id, c.created_at >= since)
            .order_by(c.created_at, c.id)
            .limit(limit)
        ).mappings()
        return [StoredEvent(r["id"], r["user_id"], r["type"], json.loads(r["body"]), r["created_at"]) for r in rows]

    # messages
    def add_message(self, message: Message) -> bool:
        c = webhook_messages.c
        if self._db.execute(select(c.id).where(c.dedupe_key == message.dedupe_key)).first() is not None:
            return False
        try:
            self._db.execute(
                insert(webhook_messages).values(
                    id=message.id,
                    endpoint_id=message.endpoint_id,
                    event_id=message.event_id,
                    event_type=message.event_type,
                    dedupe_key=message.dedupe_key,
                    status=message.status.value,
                    attempts=message.attempts,
                    next_attempt_at=message.next_attempt_at,
                    created_at=message.created_at,
                    updated_at=message.updated_at,
                )
            )
        except DuplicateRecord:
            return False
        return True

    def get_message(self, message_id: str, *, for_update: bool = False) -> Message | None:
        query = select(webhook_messages).where(webhook_messages.c.id == message_id)
        row = self._db.execute(query.with_for_update() if for_update else query).mappings().first()
        return _message(row) if row else None

    def update_message(self, message: Message) -> None:
        self._db.execute(
            update(webhook_messages)
            .where(webhook_messages.c.id == message.id)
            .values(
                status=message.status.value,
                attempts=message.attempts,
                next_attempt_at=message.next_attempt_at,
                updated_at=message.updated_at,
            )
        )

    def due_messages(self, now: datetime, *, limit: int) -> list[str]:
        c = webhook_messages.c
        rows = self._db.execute(
            select(c.id)
            .where(c.status == MessageStatus.PENDING.value, c.next_attempt_at <= now)
            .order_by(c.next_attempt_at)
            .limit(limit)
        )
        return [row[0] for row in rows]

    def messages_of(self, endpoint_id: str, status: str, *, limit: int) -> list[Message]:
        c = webhook_messages.c
        rows = self._db.execute(
            select(webhook_messages)
            .where(c.endpoint_id == endpoint_id, c.status == status)
            .order_by(c.created_at, c.id)
            .limit(limit)
        ).mappings()
        return [_message(row) for row in rows]

    def drop_backlog_over(self, endpoint_id: str, keep: int) -> int:
        c = webhook_messages.c
        ids = [
            row[0]
            for row in self._db.execute(
                select(c.id)
                .where(c.endpoint_id == endpoint_id, c.status == MessageStatus.BACKLOG.value)
                .order_by(c.created_at.desc(), c.id.desc())
                .offset(keep)
                .limit(10_000)
            )
        ]
        if ids:
            self._db.execute(update(webhook_messages).where(c.id.in_(ids)).values(status=MessageStatus.FAILED.value))
        return len(ids)

    # the delivery log
    def add_attempt(self, attempt: Attempt) -> None:
        self._db.execute(insert(webhook_attempts).values({key: getattr(attempt, key) for key in Attempt.__slots__}))

    def attempts_of(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Attempt]:
        c = webhook_attempts.c
        query = select(webhook_attempts).where(c.endpoint_id == endpoint_id)
        if after is not None:
            query = query.where(c.id < after)
        return [_attempt(row) for row in self._db.execute(query.order_by(c.id.desc()).limit(limit)).mappings()]

    # --- retention (domain/platform/retention.py): ids first, then a delete by primary key -----
    def purge_events(self, before: datetime, limit: int) -> int:
        e, m = platform_events.c, webhook_messages.c
        still_needed = select(m.id).where(
            m.event_id == e.id, m.status.in_([MessageStatus.PENDING.value, MessageStatus.BACKLOG.value])
        )
        ids = (
            self._db.execute(
                select(e.id).where(e.created_at < before, ~still_needed.exists()).order_by(e.created_at).limit(limit)
            )
            .scalars()
            .all()
        )
        return _delete_ids(self._db, platform_events, list(ids))

    def purge_messages(self, before: datetime, limit: int) -> int:
        m, e = webhook_messages.c, platform_events.c
        finished = [MessageStatus.SUCCEEDED.value, MessageStatus.FAILED.value]
        ids = (
            self._db.execute(
                select(m.id)
                .where(m.status.in_(finished), m.created_at < before, ~select(e.id).where(e.id == m.event_id).exists())
                .order_by(m.created_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        return _delete_ids(self._db, webhook_messages, list(ids))

    def purge_attempts(self, before: datetime, limit: int) -> int:
        c = webhook_attempts.c
        ids = (
            self._db.execute(select(c.id).where(c.created_at < before).order_by(c.created_at).limit(limit))
            .scalars()
            .all()
        )
        return _delete_ids(self._db, webhook_attempts, list(ids))


def _delete_ids(db: Db, table: Any, ids: list[str]) -> int:
    """DELETE ... WHERE id IN (a batch selected just before): MariaDB refuses LIMIT inside an IN
    subquery, and a delete by primary key locks only the rows it deletes."""
    if not ids:
        return 0
    return int(db.execute(delete(table).where(table.c.id.in_(ids))).rowcount)


def _notification(row: RowMapping) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        type=row["type"],
        title=row["title"],
        body=row["body"],
        data=json.loads(row["data"]),
        dedupe_key=row["dedupe_key"],
        created_at=row["created_at"],
        in_app=bool(row["in_app"]),
        read_at=row["read_at"],
    )


class SqlNotificationRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, n: Notification) -> bool:
        c = notifications.c
        if self._db.execute(select(c.id).where(c.dedupe_key == n.dedupe_key)).first() is not None:
            return False
        try:
            self._db.execute(
                insert(notifications).values(
                    id=n.id,
                    user_id=n.user_id,
                    type=n.type,
                    title=n.title,
                    body=n.body,
                    data=json.dumps(n.data),
                    dedupe_key=n.dedupe_key,
                    in_app=n.in_app,
                    created_at=n.created_at,
                    read_at=n.read_at,
                )
            )
        except DuplicateRecord:
            return False
        return True

    def get(self, notification_id: str) -> Notification | None:
        row = self._db.execute(select(notifications).where(notifications.c.id == notification_id)).mappings().first()
        return _notification(row) if row else None

    def list(self, user_id: str, *, unread_only: bool, after: str | None, limit: int) -> list[Notification]:
        c = notifications.c
        query = select(notifications).where(c.user_id == user_id, c.in_app.is_(True))
        if unread_only:
            query = query.where(c.read_at.is_(None))
        if after is not None:
            query = query.where(c.id < after)
        return [_notification(r) for r in self._db.execute(query.order_by(c.id.desc()).limit(limit)).mappings()]

    def unread_count(self, user_id: str) -> int:
        c = notifications.c
        query = select(func.count()).where(c.user_id == user_id, c.in_app.is_(True), c.read_at.is_(None))
        return int(self._db.execute(query).scalar_one())

    def mark_read(self, user_id: str, notification_id: str, at: datetime) -> Notification | None:
        c = notifications.c
        self._db.execute(
            update(notifications)
            .where(c.id == notification_id, c.user_id == user_id, c.in_app.is_(True), c.read_at.is_(None))
            .values(read_at=at)
        )
        found = self.get(notification_id)
        return found if found is not None and found.user_id == user_id and found.in_app else None

    def mark_all_read(self, user_id: str, at: datetime) -> int:
        c = notifications.c
        result = self._db.execute(
            update(notifications)
            .where(c.user_id == user_id, c.in_app.is_(True), c.read_at.is_(None))
            .values(read_at=at)
        )
        return int(result.rowcount)

    def purge_read(self, before: datetime, limit: int) -> int:
        c = notifications.c
        ids = self._db.execute(select(c.id).where(c.read_at < before).order_by(c.read_at).limit(limit)).scalars().all()
        return _delete_ids(self._db, notifications, list(ids))

    def preferences(self, user_id: str) -> dict[str, Preference]:
        c = notification_preferences.c
        rows = self._db.execute(select(notification_preferences).where(c.user_id == user_id)).mappings()
        return {r["type"]: Preference(in_app=bool(r["in_app"]), email=bool(r["email"])) for r in rows}

    def set_preference(self, user_id: str, type_: str, preference: Preference) -> None:
        c = notification_preferences.c
        done = self._db.execute(
            update(notification_preferences)
            .where(c.user_id == user_id, c.type == type_)
            .values(in_app=preference.in_app, email=preference.email)
        )
        if not done.rowcount and user_id not in self._matched(user_id, type_):
            self._db.execute(
                insert(notification_preferences).values(
                    user_id=user_id, type=type_, in_app=preference.in_app, email=preference.email
                )
            )

    def _matched(self, user_id: str, type_: str) -> set[str]:
        c = notification_preferences.c
        rows = self._db.execute(select(c.user_id).where(c.user_id == user_id, c.type == type_))
        return {row[0] for row in rows}

    def state(self, user_id: str, key: str) -> dict[str, Any] | None:
        c = notification_state.c
        row = self._db.execute(select(c.value).where(c.user_id == user_id, c.key == key).with_for_update()).first()
        return json.loads(row[0]) if row else None

    def set_state(self, user_id: str, key: str, value: dict[str, Any], at: datetime) -> None:
        c = notification_state.c
        done = self._db.execute(
            update(notification_state)
            .where(c.user_id == user_id, c.key == key)
            .values(value=json.dumps(value), updated_at=at)
        )
        if not done.rowcount and self.state(user_id, key) is None:
            self._db.execute(
                insert(notification_state).values(user_id=user_id, key=key, value=json.dumps(value), updated_at=at)
            )
