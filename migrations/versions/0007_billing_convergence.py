"""billing convergence: payments hold what the ledger holds for them; events attach to payments (issue 18)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_payments") as batch_op:
        batch_op.add_column(sa.Column("credits_held", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("ledger_version", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("charge_id", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("review", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("plan_slot", sa.String(40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_billing_payments_plan_slot"), ["plan_slot"])
        batch_op.create_index(batch_op.f("ix_billing_payments_charge_id"), ["charge_id"], unique=False)
    # What the ledger already holds for payments made before this revision: their grant, less
    # what reversals took (the old model's figures).
    op.execute(
        "UPDATE billing_payments SET credits_held = credits - credits_reversed, ledger_version = 1 "
        "WHERE grant_id IS NOT NULL"
    )
    with op.batch_alter_table("billing_events") as batch_op:
        batch_op.add_column(sa.Column("payment_id", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("awaiting", sa.String(258), nullable=True))
        batch_op.create_index(batch_op.f("ix_billing_events_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_events_awaiting"), ["awaiting"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_events_awaiting"))
        batch_op.drop_index(batch_op.f("ix_billing_events_payment_id"))
        batch_op.drop_column("awaiting")
        batch_op.drop_column("payment_id")
    with op.batch_alter_table("billing_payments") as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_payments_charge_id"))
        batch_op.drop_constraint(batch_op.f("uq_billing_payments_plan_slot"), type_="unique")
        batch_op.drop_column("plan_slot")
        batch_op.drop_column("review")
        batch_op.drop_column("charge_id")
        batch_op.drop_column("ledger_version")
        batch_op.drop_column("credits_held")
