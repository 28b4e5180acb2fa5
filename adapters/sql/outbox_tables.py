"""Tables of the outbox, outgoing webhooks and notifications (issue 22), on the shared MetaData."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from adapters.sql.tables import EXACT, ID, UtcDateTime, metadata
from domain.platform.webhooks import DESCRIPTION_MAX
from domain.shared.limits import URL_MAX_LENGTH

EVENT_ID = 64
URL = URL_MAX_LENGTH


def _id(name: str = "id", **kw: object) -> Column[str]:
    return Column(name, String(ID), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, UtcDateTime(), nullable=nullable)


outbox = Table(
    "outbox",
    metadata,
    _id(primary_key=True),
    Column("job_name", String(100), nullable=False),
    Column("job", Text, nullable=False),  # JSON: domain.shared.outbox.job_to_record
    _ts("created_at"),
    _ts("sent_at", nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_outbox_sent_at_created_at", "sent_at", "created_at"),  # the relay's scan
    **EXACT,
)

platform_events = Table(
    "platform_events",
    metadata,
    Column("id", String(EVENT_ID), primary_key=True),
    _id("user_id", nullable=False),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),  # JSON: the webhook payload, as sent
    _ts("created_at"),
    Index("ix_platform_events_user_id_created_at", "user_id", "created_at", "id"),  # replay since T
    Index("ix_platform_events_created_at", "created_at"),  # retention (migration 0012)
    **EXACT,
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(primary_key=True),
    _id("user_id", nullable=False),
    Column("url", String(URL), nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event types
    Column("description", String(DESCRIPTION_MAX), nullable=False),
    Column("status", String(12), nullable=False),
    Column("disabled_reason", String(64), nullable=True),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), nullable=True),
    _ts("previous_valid_until", nullable=True),
    _ts("failing_since", nullable=True),
    Column("failing_notified", Boolean, nullable=False, default=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_webhook_endpoints_user_id_id", "user_id", "id"),
    **EXACT,
)

webhook_messages = Table(
    "webhook_messages",
    metadata,
    _id(primary_key=True),
    _id("endpoint_id", nullable=False),
    Column("event_id", String(EVENT_ID), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("status", String(12), nullable=False),  # pending, succeeded, failed, backlog
    Column("attempts", Integer, nullable=False),
    _ts("next_attempt_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_webhook_messages_status_next_attempt_at", "status", "next_attempt_at"),  # the due sweep
    Index("ix_webhook_messages_endpoint_id_status_created_at", "endpoint_id", "status", "created_at"),
    Index("ix_webhook_messages_event_id_status", "event_id", "status"),  # retention keeps what is pending
    Index("ix_webhook_messages_status_created_at", "status", "created_at"),  # retention finds finished ones
    **EXACT,
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _id(primary_key=True),
    _id("endpoint_id", nullable=False),
    _id("message_id", nullable=False),
    Column("event_id", String(EVENT_ID), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("error", String(500), nullable=True),
    Column("response", String(1000), nullable=True),
    _ts("created_at"),
    Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),
    Index("ix_webhook_attempts_created_at", "created_at"),  # retention (migration 0012)
    **EXACT,
)

notifications = Table(
    "notifications",
    metadata,
    _id(primary_key=True),
    _id("user_id", nullable=False),
    Column("type", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("in_app", Boolean, nullable=False),  # False: email only (kept for its dedupe key)
    _ts("created_at"),
    _ts("read_at", nullable=True),
    Index("ix_notifications_user_id_id", "user_id", "in_app", "id"),
    Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    Index("ix_notifications_read_at", "read_at"),  # retention (migration 0012)
    **EXACT,
)

notification_preferences = Table(
    "notification_preferences",
    metadata,
    _id("user_id", primary_key=True),
    Column("type", String(40), primary_key=True),
    Column("in_app", Boolean, nullable=False),
    Column("email", Boolean, nullable=False),
    **EXACT,
)

notification_state = Table(
    "notification_state",
    metadata,
    _id("user_id", primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    _ts("updated_at"),
    **EXACT,
)
