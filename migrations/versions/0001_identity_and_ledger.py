"""identity and ledger tables

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:23:13.072324
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# Naive UTC with microseconds: DATETIME(6) on MySQL/MariaDB.
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_ledger_accounts_balance_not_negative")),
        sa.CheckConstraint("held >= 0 AND held <= balance", name=op.f("ck_ledger_accounts_held_within_balance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=40), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=24), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("revoked_at", DT, nullable=True),
        sa.Column("last_used_at", DT, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_user_id_api_keys_created_at"), ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=True),
        sa.Column("hold_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_entries_account_id_ledger_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("account_id", "idempotency_key", name=op.f("uq_ledger_entries_account_id_idempotency_key")),
        sa.UniqueConstraint("account_id", "seq", name=op.f("uq_ledger_entries_account_id_seq")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_account_id_ledger_entries_created_at"),
            ["account_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_account_id_ledger_entries_kind_ledger_entries_seq"),
            ["account_id", "kind", "seq"],
            unique=False,
        )

    op.create_table(
        "ledger_grants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", DT, nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= granted", name=op.f("ck_ledger_grants_remaining_within_granted")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_grants_account_id_ledger_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_grants")),
    )
    with op.batch_alter_table("ledger_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_grants_account_id_ledger_grants_remaining"), ["account_id", "remaining"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_grants_expires_at_ledger_grants_remaining"), ["expires_at", "remaining"], unique=False
        )

    op.create_table(
        "ledger_holds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("requested", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("expires_at", DT, nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("finished_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_holds_account_id_ledger_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
        sa.UniqueConstraint("account_id", "idempotency_key", name=op.f("uq_ledger_holds_account_id_idempotency_key")),
    )
    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_holds_account_id_ledger_holds_status"), ["account_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_holds_status_ledger_holds_expires_at"), ["status", "expires_at"], unique=False
        )

    op.create_table(
        "ledger_idempotency",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_idempotency_account_id_ledger_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "idempotency_key", name=op.f("pk_ledger_idempotency")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("family_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("expires_at", DT, nullable=False),
        sa.Column("used_at", DT, nullable=True),
        sa.Column("revoked_at", DT, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "ledger_allocations",
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_ledger_allocations_entry_id_ledger_entries")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["ledger_grants.id"], name=op.f("fk_ledger_allocations_grant_id_ledger_grants")
        ),
        sa.PrimaryKeyConstraint("entry_id", "grant_id", name=op.f("pk_ledger_allocations")),
    )
    with op.batch_alter_table("ledger_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_allocations_grant_id"), ["grant_id"], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes; dependants first.
    for table in (
        "ledger_idempotency",
        "ledger_allocations",
        "ledger_holds",
        "ledger_entries",
        "ledger_grants",
        "ledger_accounts",
        "api_keys",
        "refresh_tokens",
        "users",
    ):
        op.drop_table(table)
