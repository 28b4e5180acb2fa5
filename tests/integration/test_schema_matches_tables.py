"""The migrations build the schema `adapters/sql/tables.py` describes: on SQLite and MariaDB, a
freshly migrated database compared with the metadata (alembic's autogenerate comparison) differs
in nothing but the names of some older indexes (the naming convention changed after they were
made: same table, same columns, same uniqueness). A table, column or index added to one side only
fails here, before a deploy finds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from adapters.sql.tables import metadata
from tests.fixtures.backends import backend_params, own_mariadb_engine, sqlite_engine


def _index_shape(index: Any) -> tuple[str, tuple[str, ...], bool]:
    return index.table.name, tuple(c.name for c in index.columns), bool(index.unique)


def differences(engine: Any) -> list[Any]:
    """What autogenerate would write, less index renames (a removed and an added index of one shape)."""
    with engine.connect() as connection:
        diff = list(compare_metadata(MigrationContext.configure(connection), metadata))
    removed = {_index_shape(d[1]) for d in diff if d[0] == "remove_index"}
    added = {_index_shape(d[1]) for d in diff if d[0] == "add_index"}
    renamed = removed & added
    return [d for d in diff if not (d[0] in ("remove_index", "add_index") and _index_shape(d[1]) in renamed)]


@pytest.mark.parametrize("backend", backend_params("sqlite", "mariadb"))
def test_a_migrated_database_is_the_schema_the_tables_describe(backend: str, tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "schema.db") if backend == "sqlite" else own_mariadb_engine("schema")
    try:
        assert differences(engine) == []
    finally:
        engine.dispose()
