"""The same state machine on SQLite and MariaDB, and the differential test (invariant 7):
one generated sequence applied to memory and to SQL gives identical results and final state."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from tests.fixtures.backends import MYSQL_URL, own_mariadb_database, sqlite_engine
from tests.fixtures.ledger import PRICES, NamespacedIds, canonical, state_of
from tests.fixtures.ledger_machine import LedgerMachine
from tests.fixtures.ledger_sequences import operations, run_sequence
from tests.fixtures.settings import T0

_engines: dict[str, Any] = {}


def engine_for(backend: str) -> Any:
    """One engine per backend for the whole module; runs share it under unique namespaces."""
    if backend not in _engines:
        if backend == "sqlite":
            _engines[backend] = sqlite_engine(Path(tempfile.mkdtemp()) / "ledger.db")
        else:
            _engines[backend] = _own_mariadb_database()
    return _engines[backend]


def _own_mariadb_database() -> Any:
    """A sibling database of TEST_MYSQL_URL's for these runs alone: the sweeps here touch every
    account, and the repository contract tests leave raw rows that no use case would write."""
    assert MYSQL_URL
    return own_mariadb_database(MYSQL_URL, "ledger_props")


needs_mysql = pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL is not set")
# SQL examples cost milliseconds each, not microseconds: fewer steps, the same number of examples in CI.
sql_settings = settings(stateful_step_count=20)


class SqliteLedgerMachine(LedgerMachine):
    def make_uow(self) -> Any:
        return SqlUnitOfWorkFactory(engine_for("sqlite"))


class MariaDbLedgerMachine(LedgerMachine):
    def make_uow(self) -> Any:
        return SqlUnitOfWorkFactory(engine_for("mariadb"))


TestLedgerInvariantsOnSqlite = SqliteLedgerMachine.TestCase
TestLedgerInvariantsOnSqlite.settings = sql_settings
TestLedgerInvariantsOnMariaDb = needs_mysql(MariaDbLedgerMachine.TestCase)
TestLedgerInvariantsOnMariaDb.settings = sql_settings


def _run(uow: Any, steps: list[Any], namespace: str) -> str:
    clock = ManualClock(T0)
    ledger = Ledger(uow=uow, clock=clock, ids=NamespacedIds(namespace), prices=PRICES)
    account = f"acc_{namespace}"
    ledger.open_account(account)
    results = run_sequence(ledger, clock, account, steps)
    return canonical((results, state_of(ledger, uow, account)), namespace)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("mariadb", marks=needs_mysql)])
def test_memory_and_sql_give_identical_results_for_the_same_calls(backend: str) -> None:
    @given(steps=operations)
    def check(steps: list[Any]) -> None:
        namespace = os.urandom(6).hex()
        expected = _run(MemoryUnitOfWorkFactory(), steps, namespace)
        actual = _run(SqlUnitOfWorkFactory(engine_for(backend)), steps, namespace)
        assert actual == expected

    check()
