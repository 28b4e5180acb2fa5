"""operations: login history and audit log (issue 15)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# Naive UTC with microseconds: DATETIME(6) on MySQL/MariaDB.
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EXACT = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}


def upgrade() -> None:
    op.create_table(
        "login_events",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("at", DT, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(255), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_events")),
        **EXACT,
    )
    op.create_index(
        op.f("ix_login_events_user_id_login_events_at_login_events_id"), "login_events", ["user_id", "at", "id"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("at", DT, nullable=False),
        sa.Column("actor_id", sa.String(40), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        **EXACT,
    )
    op.create_index(op.f("ix_audit_log_at_audit_log_id"), "audit_log", ["at", "id"])
    op.create_index(op.f("ix_audit_log_actor_id_audit_log_at_audit_log_id"), "audit_log", ["actor_id", "at", "id"])
    op.create_index(op.f("ix_audit_log_action_audit_log_at_audit_log_id"), "audit_log", ["action", "at", "id"])
    op.create_index(op.f("ix_audit_log_subject_id_audit_log_at_audit_log_id"), "audit_log", ["subject_id", "at", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("login_events")
