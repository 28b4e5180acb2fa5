"""the platform gaps (issue 27): retention indexes, the renewal scan's index, the card fingerprint

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# (index, table, columns): each lets a daily sweep find its rows by age or date without a scan.
INDEXES = (
    ("ix_platform_events_created_at", "platform_events", ["created_at"]),
    ("ix_webhook_attempts_created_at", "webhook_attempts", ["created_at"]),
    ("ix_webhook_messages_event_id_status", "webhook_messages", ["event_id", "status"]),
    ("ix_notifications_read_at", "notifications", ["read_at"]),
    ("ix_billing_subscriptions_current_period_end", "billing_subscriptions", ["current_period_end"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    with op.batch_alter_table("billing_payments") as batch:
        batch.add_column(sa.Column("card_fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_payments") as batch:
        batch.drop_column("card_fingerprint")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
