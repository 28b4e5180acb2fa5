"""referrals, pending grants, the metrics rollup and its time indexes (issue 24)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

EXACT = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}


def upgrade() -> None:
    op.create_table(
        "ledger_pending_grants",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("finished_at", DT, nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_pending_grants_pending_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_pending_grants_account_id_ledger_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_pending_grants")),
        **EXACT,
    )
    op.create_index(
        op.f("ix_ledger_pending_grants_account_id_status"), "ledger_pending_grants", ["account_id", "status"]
    )
    op.create_table(
        "referral_codes",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_referral_codes_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_referral_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_referral_codes_code")),
        **EXACT,
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("referrer_id", sa.String(40), nullable=False),
        sa.Column("referee_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("pending_grant_id", sa.String(40), nullable=True),
        sa.Column("referee_grant_id", sa.String(40), nullable=True),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("referee_bonus", sa.BigInteger(), nullable=False),
        sa.Column("qualified_at", DT, nullable=True),
        sa.Column("release_after", DT, nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.ForeignKeyConstraint(["referrer_id"], ["users.id"], name=op.f("fk_referrals_referrer_id_users")),
        sa.ForeignKeyConstraint(["referee_id"], ["users.id"], name=op.f("fk_referrals_referee_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("referee_id", name=op.f("uq_referrals_referee_id")),
        **EXACT,
    )
    op.create_index(op.f("ix_referrals_referrer_id_status"), "referrals", ["referrer_id", "status"])
    op.create_index(op.f("ix_referrals_referrer_id_qualified_at"), "referrals", ["referrer_id", "qualified_at"])
    op.create_index(op.f("ix_referrals_status_release_after"), "referrals", ["status", "release_after"])
    op.create_index(op.f("ix_referrals_payment_id"), "referrals", ["payment_id"])
    op.create_table(
        "metrics_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("figure", sa.String(40), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "figure", "key", name=op.f("pk_metrics_daily")),
        **EXACT,
    )
    op.create_index("ix_ledger_entries_created_at", "ledger_entries", ["created_at"])
    op.create_index("ix_billing_payments_paid_at", "billing_payments", ["paid_at"])
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.create_index("ix_ledger_grants_created_at", "ledger_grants", ["created_at"])
    op.create_index("ix_billing_events_type_received_at", "billing_events", ["type", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_billing_events_type_received_at", table_name="billing_events")
    op.drop_index("ix_ledger_grants_created_at", table_name="ledger_grants")
    op.drop_index("ix_users_created_at", table_name="users")
    op.drop_index("ix_billing_payments_paid_at", table_name="billing_payments")
    op.drop_index("ix_ledger_entries_created_at", table_name="ledger_entries")
    op.drop_table("metrics_daily")
    op.drop_table("referrals")
    op.drop_table("referral_codes")
    op.drop_table("ledger_pending_grants")
