"""The budget state machine (tests/fixtures/budget_machine.py) on SQLite and MariaDB (issue 23): caps,
usage rollups and reservations written by the SQL adapter under the owner's account row lock."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from adapters.sql.uow import SqlUnitOfWorkFactory
from tests.fixtures.backends import MYSQL_URL, own_mariadb_database, sqlite_engine
from tests.fixtures.budget_machine import BudgetMachine

_engines: dict[str, Any] = {}


def engine_for(backend: str) -> Any:
    """One engine per backend for the module; each run has its own ids (NamespacedIds)."""
    if backend not in _engines:
        if backend == "sqlite":
            _engines[backend] = sqlite_engine(Path(tempfile.mkdtemp()) / "budgets.db")
        else:
            assert MYSQL_URL
            _engines[backend] = own_mariadb_database(MYSQL_URL, "budget_props")
    return _engines[backend]


needs_mysql = pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL is not set")
sql_settings = settings(max_examples=40, stateful_step_count=20, deadline=None)


class SqliteBudgetMachine(BudgetMachine):
    def make_uow(self) -> Any:
        return SqlUnitOfWorkFactory(engine_for("sqlite"))


class MariaDbBudgetMachine(BudgetMachine):
    def make_uow(self) -> Any:
        return SqlUnitOfWorkFactory(engine_for("mariadb"))


TestBudgetsOnSqlite = SqliteBudgetMachine.TestCase
TestBudgetsOnSqlite.settings = sql_settings
TestBudgetsOnMariaDb = needs_mysql(MariaDbBudgetMachine.TestCase)
TestBudgetsOnMariaDb.settings = sql_settings
