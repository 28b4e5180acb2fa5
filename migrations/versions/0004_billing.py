"""billing: payments, subscriptions, provider events (issue 13)

Five tables: billing_payments (our record of every checkout and paid invoice, with the credits
copied from the catalogue), billing_events (each provider event stored once by its id),
billing_subscriptions (one per user), billing_reversals (refunds and disputes taking credits
back) and billing_customers (the provider's customer id of a user).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Naive UTC with microseconds: DATETIME(6) on MySQL/MariaDB.
DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
EXACT = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}


def upgrade() -> None:
    op.create_table(
        "billing_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("customer_email", sa.String(length=320), nullable=False),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_key", sa.String(length=255), nullable=True),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("invoice_id", sa.String(length=255), nullable=True),
        sa.Column("grant_id", sa.String(length=40), nullable=True),
        sa.Column("grant_expires_at", DT, nullable=True),
        sa.Column("paid_at", DT, nullable=True),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("reversal_target", sa.BigInteger(), nullable=False),
        sa.Column("credits_reversed", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_billing_payments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_payments")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_billing_payments_invoice_id")),
        sa.UniqueConstraint("payment_intent_id", name=op.f("uq_billing_payments_payment_intent_id")),
        sa.UniqueConstraint("session_id", name=op.f("uq_billing_payments_session_id")),
        sa.UniqueConstraint("user_id", "checkout_key", name=op.f("uq_billing_payments_user_id_checkout_key")),
        **EXACT,
    )
    with op.batch_alter_table("billing_payments") as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_payments_subscription_id"), ["subscription_id"], unique=False)
    with op.batch_alter_table("billing_payments") as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_payments_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("billing_payments") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_payments_user_id_billing_payments_id"), ["user_id", "id"], unique=False
        )
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", DT, nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("received_at", DT, nullable=False),
        sa.Column("handled_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
        **EXACT,
    )
    with op.batch_alter_table("billing_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_events_status_billing_events_id"), ["status", "id"], unique=False)
    op.create_table(
        "billing_subscriptions",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("current_period_start", DT, nullable=True),
        sa.Column("current_period_end", DT, nullable=True),
        sa.Column("cancel_at_period_end", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_billing_subscriptions_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_billing_subscriptions")),
        sa.UniqueConstraint("provider_id", name=op.f("uq_billing_subscriptions_provider_id")),
        **EXACT,
    )
    op.create_table(
        "billing_reversals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("taken", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("done_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["billing_payments.id"], name=op.f("fk_billing_reversals_payment_id_billing_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_reversals")),
        **EXACT,
    )
    with op.batch_alter_table("billing_reversals") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_reversals_payment_id_billing_reversals_status"),
            ["payment_id", "status"],
            unique=False,
        )
    op.create_table(
        "billing_customers",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_billing_customers_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_billing_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_billing_customers_customer_id")),
        **EXACT,
    )


def downgrade() -> None:
    op.drop_table("billing_customers")
    op.drop_table("billing_reversals")
    op.drop_table("billing_subscriptions")
    op.drop_table("billing_events")
    op.drop_table("billing_payments")
