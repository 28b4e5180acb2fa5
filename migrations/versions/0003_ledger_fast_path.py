"""the ledger's fast path (issue 11): usage rollup, short index names

- `ledger_usage`: credits spent per account, UTC month and feature, kept by every charge entry in
  its own transaction, filled here from the existing entries. Monthly usage reads it instead of
  every entry of the month, so the (account_id, created_at) index on entries goes.
- Index names: the old convention (`ix_%(column_0_N_label)s`) repeated the table name per column;
  past 64 characters MariaDB got a hashed, truncated name that SQLite did not. Every index gets
  the new convention's name (`ix_<table>_<columns>`), found by its columns, not by its old name.

Revision ID: 0003
Revises: 0002
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, columns, old name as SQLAlchemy's old convention made it (before truncation), new name)
INDEXES = [
    ("api_keys", ("user_id", "created_at"), "ix_api_keys_user_id_api_keys_created_at"),
    (
        "ledger_entries",
        ("account_id", "kind", "seq"),
        "ix_ledger_entries_account_id_ledger_entries_kind_ledger_entries_seq",
    ),
    ("ledger_grants", ("account_id", "remaining"), "ix_ledger_grants_account_id_ledger_grants_remaining"),
    ("ledger_grants", ("expires_at", "remaining"), "ix_ledger_grants_expires_at_ledger_grants_remaining"),
    ("ledger_holds", ("account_id", "status"), "ix_ledger_holds_account_id_ledger_holds_status"),
    ("ledger_holds", ("status", "expires_at"), "ix_ledger_holds_status_ledger_holds_expires_at"),
]
USAGE_INDEX = ("ledger_entries", ("account_id", "created_at"), "ix_ledger_entries_account_id_ledger_entries_created_at")
MONTH = {"sqlite": "strftime('%Y-%m', created_at)", "mysql": "DATE_FORMAT(created_at, '%Y-%m')"}


def _new_name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def _index_named_by_columns(table: str, columns: tuple[str, ...]) -> str | None:
    for index in sa.inspect(op.get_bind()).get_indexes(table):
        if tuple(index["column_names"]) == columns:
            return str(index["name"])
    return None


def _rename(table: str, columns: tuple[str, ...], to: str) -> None:
    current = _index_named_by_columns(table, columns)
    if current is None or current == to:
        return
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        # RENAME INDEX keeps the index in place: an index a foreign key needs cannot be dropped.
        op.execute(f"ALTER TABLE `{table}` RENAME INDEX `{current}` TO `{to}`")
    else:
        op.drop_index(current, table_name=table)
        op.create_index(to, table, list(columns))


def upgrade() -> None:
    op.create_table(
        "ledger_usage",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_usage_account_id_ledger_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "month", "feature_key", name=op.f("pk_ledger_usage")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
    )
    dialect = "sqlite" if op.get_bind().dialect.name == "sqlite" else "mysql"
    op.get_bind().exec_driver_sql(
        "INSERT INTO ledger_usage (account_id, month, feature_key, spent) "
        f"SELECT account_id, {MONTH[dialect]}, COALESCE(feature_key, ''), SUM(-amount) FROM ledger_entries "
        f"WHERE kind = 'charge' GROUP BY account_id, {MONTH[dialect]}, COALESCE(feature_key, '')".replace(
            "%", "%%" if dialect == "mysql" else "%"
        )
    )
    table, columns, _ = USAGE_INDEX
    usage_index = _index_named_by_columns(table, columns)
    if usage_index is not None:
        op.drop_index(usage_index, table_name=table)
    for table, columns, _ in INDEXES:
        _rename(table, columns, _new_name(table, columns))


def downgrade() -> None:
    mysql = op.get_bind().dialect.name in ("mysql", "mariadb")
    for table, columns, old in INDEXES:
        _rename(table, columns, _truncated(old, mysql))
    table, columns, old = USAGE_INDEX
    op.create_index(_truncated(old, mysql), table, list(columns))
    op.drop_table("ledger_usage")


def _truncated(name: str, mysql: bool) -> str:
    """The name SQLAlchemy gave a convention name past 64 characters on MySQL/MariaDB: its first 56
    characters, "_", and the last 4 hex digits of its md5 (what 0001 left there)."""
    if not mysql or len(name) <= 64:
        return name
    return f"{name[:56]}_{hashlib.md5(name.encode()).hexdigest()[-4:]}"
