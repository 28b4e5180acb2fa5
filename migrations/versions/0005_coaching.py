"""coaching: workspaces, goals, todos, chat, tasks (issue 14)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Naive UTC with microseconds: DATETIME(6) on MySQL/MariaDB.
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
EXACT = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=40), nullable=nullable)


def _stamps() -> list[sa.Column]:
    return [sa.Column("created_at", DT, nullable=False), sa.Column("updated_at", DT, nullable=False)]


def upgrade() -> None:
    op.create_table(
        "coaching_workspaces",
        _id(),
        _id("owner_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_coaching_workspaces_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaching_workspaces")),
        **EXACT,
    )
    with op.batch_alter_table("coaching_workspaces") as batch:
        batch.create_index("ix_coaching_workspaces_owner", ["owner_id", "id"])

    op.create_table(
        "coaching_goals",
        _id(),
        _id("workspace_id"),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("specific", sa.Text(), nullable=True),
        sa.Column("measurable", sa.Text(), nullable=True),
        sa.Column("target_value", sa.String(length=200), nullable=True),
        sa.Column("achievable", sa.Text(), nullable=True),
        sa.Column("relevant", sa.Text(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        *_stamps(),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_coaching_goals_progress_in_range")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["coaching_workspaces.id"],
            name=op.f("fk_coaching_goals_workspace_id_coaching_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaching_goals")),
        **EXACT,
    )
    with op.batch_alter_table("coaching_goals") as batch:
        batch.create_index("ix_coaching_goals_workspace", ["workspace_id", "status", "id"])

    op.create_table(
        "coaching_todos",
        _id(),
        _id("workspace_id"),
        _id("goal_id", nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["coaching_workspaces.id"],
            name=op.f("fk_coaching_todos_workspace_id_coaching_workspaces"),
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"], ["coaching_goals.id"], name=op.f("fk_coaching_todos_goal_id_coaching_goals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaching_todos")),
        **EXACT,
    )
    with op.batch_alter_table("coaching_todos") as batch:
        batch.create_index("ix_coaching_todos_workspace", ["workspace_id", "status", "id"])
        batch.create_index("ix_coaching_todos_goal", ["goal_id"])

    op.create_table(
        "coaching_sessions",
        _id(),
        _id("workspace_id"),
        _id("owner_id"),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("coach", sa.String(length=64), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["coaching_workspaces.id"],
            name=op.f("fk_coaching_sessions_workspace_id_coaching_workspaces"),
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_coaching_sessions_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaching_sessions")),
        **EXACT,
    )
    with op.batch_alter_table("coaching_sessions") as batch:
        batch.create_index("ix_coaching_sessions_workspace", ["workspace_id", "id"])

    op.create_table(
        "coaching_messages",
        _id(),
        _id("session_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("credits_charged", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("cut_short", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        _id("hold_id", nullable=True),
        _id("account_id", nullable=True),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["coaching_sessions.id"], name=op.f("fk_coaching_messages_session_id_coaching_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaching_messages")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_coaching_messages_session_id_seq")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_coaching_messages_idempotency_key")),
        **EXACT,
    )
    with op.batch_alter_table("coaching_messages") as batch:
        batch.create_index("ix_coaching_messages_settled", ["settled", "created_at"])

    op.create_table(
        "coaching_tasks",
        _id(),
        _id("owner_id"),
        _id("workspace_id"),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("credits_held", sa.BigInteger(), nullable=False),
        sa.Column("credits_charged", sa.BigInteger(), nullable=False),
        _id("hold_id", nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        *_stamps(),
        sa.Column("started_at", DT, nullable=True),
        sa.Column("finished_at", DT, nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_coaching_tasks_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["coaching_workspaces.id"],
            name=op.f("fk_coaching_tasks_workspace_id_coaching_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaching_tasks")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_coaching_tasks_idempotency_key")),
        **EXACT,
    )
    with op.batch_alter_table("coaching_tasks") as batch:
        batch.create_index("ix_coaching_tasks_owner", ["owner_id", "status", "id"])
        batch.create_index("ix_coaching_tasks_workspace", ["workspace_id"])
        batch.create_index("ix_coaching_tasks_status", ["status", "started_at"])
        batch.create_index("ix_coaching_tasks_settled", ["settled", "finished_at"])


def downgrade() -> None:
    for table in (
        "coaching_tasks",
        "coaching_messages",
        "coaching_sessions",
        "coaching_todos",
        "coaching_goals",
        "coaching_workspaces",
    ):
        op.drop_table(table)
