"""every string compares byte for byte on MySQL/MariaDB (utf8mb4_nopad_bin)

A database created with a case-insensitive default collation (utf8mb4_unicode_ci) made
`Order-ABC-1` and `order-abc-1` one idempotency key, and `USR_...` or `usr_... ` reach the
real user. The tables now carry their own binary NO PAD collation, so equality no longer
depends on how the database was created. SQLite compares bytes already: nothing to do there.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "users",
    "refresh_tokens",
    "api_keys",
    "ledger_accounts",
    "ledger_grants",
    "ledger_entries",
    "ledger_allocations",
    "ledger_holds",
    "ledger_idempotency",
)


def _convert(collation: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    # MariaDB refuses to change the collation of a column a foreign key joins, even with
    # FOREIGN_KEY_CHECKS off: drop those keys, convert every table, then put them back.
    inspector = sa.inspect(bind)
    foreign_keys = [(table, fk) for table in TABLES for fk in inspector.get_foreign_keys(table)]
    for table, fk in foreign_keys:
        op.execute(f"ALTER TABLE `{table}` DROP FOREIGN KEY `{fk['name']}`")
    for table in TABLES:
        op.execute(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")
    for table, fk in foreign_keys:
        columns = ", ".join(f"`{c}`" for c in fk["constrained_columns"])
        referred = ", ".join(f"`{c}`" for c in fk["referred_columns"])
        op.execute(
            f"ALTER TABLE `{table}` ADD CONSTRAINT `{fk['name']}` FOREIGN KEY ({columns}) "
            f"REFERENCES `{fk['referred_table']}` ({referred})"
        )


def upgrade() -> None:
    _convert("utf8mb4_nopad_bin")


def downgrade() -> None:
    _convert("utf8mb4_unicode_ci")
