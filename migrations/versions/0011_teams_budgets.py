"""workspace members, invitations, budget caps, usage rollups and reservations (issue 23)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

EXACT = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}


def upgrade() -> None:
    with op.batch_alter_table("coaching_workspaces") as batch:
        batch.add_column(sa.Column("monthly_credit_limit", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("coaching_tasks") as batch:
        batch.add_column(sa.Column("payer_id", sa.String(40), nullable=True))
    op.create_table(
        "workspace_members",
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("monthly_credit_limit", sa.BigInteger(), nullable=True),
        sa.Column("joined_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["coaching_workspaces.id"],
            name=op.f("fk_workspace_members_workspace_id_coaching_workspaces"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_workspace_members_user_id_users")),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", name=op.f("pk_workspace_members")),
        **EXACT,
    )
    op.create_index(op.f("ix_workspace_members_user_id_workspace_id"), "workspace_members", ["user_id", "workspace_id"])
    op.create_table(
        "workspace_invitations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("invited_by", sa.String(40), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("expires_at", DT, nullable=False),
        sa.Column("responded_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["coaching_workspaces.id"],
            name=op.f("fk_workspace_invitations_workspace_id_coaching_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_invitations")),
        **EXACT,
    )
    op.create_index(op.f("ix_workspace_invitations_workspace_id_id"), "workspace_invitations", ["workspace_id", "id"])
    op.create_index(
        op.f("ix_workspace_invitations_email_status_id"), "workspace_invitations", ["email", "status", "id"]
    )
    op.create_table(
        "budget_usage",
        sa.Column("budget_id", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("member_id", sa.String(40), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("budget_id", "month", "member_id", name=op.f("pk_budget_usage")),
        **EXACT,
    )
    op.create_table(
        "budget_reservations",
        sa.Column("hold_id", sa.String(40), nullable=False),
        sa.Column("budget_id", sa.String(40), nullable=False),
        sa.Column("member_id", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_budget_reservations")),
        **EXACT,
    )


def downgrade() -> None:
    op.drop_table("budget_reservations")
    op.drop_table("budget_usage")
    op.drop_index(op.f("ix_workspace_invitations_email_status_id"), table_name="workspace_invitations")
    op.drop_index(op.f("ix_workspace_invitations_workspace_id_id"), table_name="workspace_invitations")
    op.drop_table("workspace_invitations")
    op.drop_index(op.f("ix_workspace_members_user_id_workspace_id"), table_name="workspace_members")
    op.drop_table("workspace_members")
    with op.batch_alter_table("coaching_tasks") as batch:
        batch.drop_column("payer_id")
    with op.batch_alter_table("coaching_workspaces") as batch:
        batch.drop_column("monthly_credit_limit")
