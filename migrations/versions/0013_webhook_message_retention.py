"""retention of finished webhook messages: their index by status and age

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_messages_status_created_at", "webhook_messages", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_messages_status_created_at", table_name="webhook_messages")
