"""outbox, outgoing webhooks and notifications (issue 22)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# Naive UTC with microseconds: DATETIME(6) on MySQL/MariaDB.
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

EXACT = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(40), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outbox",
        _id(),
        sa.Column("job_name", sa.String(100), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("sent_at", DT, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        **EXACT,
    )
    op.create_index("ix_outbox_sent_at_created_at", "outbox", ["sent_at", "created_at"])
    op.create_table(
        "platform_events",
        sa.Column("id", sa.String(64), nullable=False),
        _id("user_id"),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_events")),
        **EXACT,
    )
    op.create_index("ix_platform_events_user_id_created_at", "platform_events", ["user_id", "created_at", "id"])
    op.create_table(
        "webhook_endpoints",
        _id(),
        _id("user_id"),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("disabled_reason", sa.String(64), nullable=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_valid_until", DT, nullable=True),
        sa.Column("failing_since", DT, nullable=True),
        sa.Column("failing_notified", sa.Boolean(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        **EXACT,
    )
    op.create_index("ix_webhook_endpoints_user_id_id", "webhook_endpoints", ["user_id", "id"])
    op.create_table(
        "webhook_messages",
        _id(),
        _id("endpoint_id"),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", DT, nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_webhook_messages_dedupe_key")),
        **EXACT,
    )
    op.create_index("ix_webhook_messages_status_next_attempt_at", "webhook_messages", ["status", "next_attempt_at"])
    op.create_index(
        "ix_webhook_messages_endpoint_id_status_created_at", "webhook_messages", ["endpoint_id", "status", "created_at"]
    )
    op.create_table(
        "webhook_attempts",
        _id(),
        _id("endpoint_id"),
        _id("message_id"),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("response", sa.String(1000), nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        **EXACT,
    )
    op.create_index("ix_webhook_attempts_endpoint_id_id", "webhook_attempts", ["endpoint_id", "id"])
    op.create_table(
        "notifications",
        _id(),
        _id("user_id"),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("read_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
        **EXACT,
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "in_app", "id"])
    op.create_index("ix_notifications_user_id_read_at", "notifications", ["user_id", "read_at"])
    op.create_table(
        "notification_preferences",
        _id("user_id"),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "type", name=op.f("pk_notification_preferences")),
        **EXACT,
    )
    op.create_table(
        "notification_state",
        _id("user_id"),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_notification_state")),
        **EXACT,
    )


def downgrade() -> None:
    for table in (
        "notification_state",
        "notification_preferences",
        "notifications",
        "webhook_attempts",
        "webhook_messages",
        "webhook_endpoints",
        "platform_events",
        "outbox",
    ):
        op.drop_table(table)
