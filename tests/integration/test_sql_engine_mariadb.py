"""The MariaDB engine's pool: no ping per checkout, no ROLLBACK after a committed unit of work,
a ROLLBACK when a transaction is left open, and a dropped connection retried once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pymysql.connections
import pytest
from pymysql.constants import COMMAND
from sqlalchemy import text

from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.ledger.model import Account
from tests.fixtures.backends import MYSQL_URL
from tests.fixtures.settings import T0

pytestmark = pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL is not set")


@pytest.fixture
def engine(mysql_engine: Any) -> Iterator[Any]:  # mysql_engine: the schema is migrated
    from adapters.sql.engine import make_engine

    assert MYSQL_URL
    engine = make_engine(MYSQL_URL, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@contextmanager
def sent() -> Iterator[list[Any]]:
    """What pymysql sends: (command, sql) pairs, pings included."""
    original = pymysql.connections.Connection._execute_command
    log: list[Any] = []

    def record(self: Any, command: int, sql: Any) -> Any:
        log.append((command, sql if isinstance(sql, str) else sql.decode(errors="replace")))
        return original(self, command, sql)

    pymysql.connections.Connection._execute_command = record  # type: ignore[method-assign]
    try:
        yield log
    finally:
        pymysql.connections.Connection._execute_command = original  # type: ignore[method-assign]


def _account(engine: Any, prefix: str) -> str:
    account_id = f"{prefix}-{uuid.uuid4().hex[:12]}"
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.ledger.add_account(Account(id=account_id, created_at=T0))
        uow.commit()
    return account_id


def test_a_committed_unit_of_work_sends_no_ping_and_no_rollback(engine: Any) -> None:
    account_id = _account(engine, "eng-commit")
    with sent() as log:
        with SqlUnitOfWorkFactory(engine)() as uow:
            account = uow.ledger.get_account_for_update(account_id)
            assert account is not None
            uow.ledger.update_account(account)
            uow.commit()
    statements = [sql.split()[0].upper() for command, sql in log if command == COMMAND.COM_QUERY]
    assert statements == ["SELECT", "UPDATE"]  # issue 25: the UPDATE leaves with the COMMIT, not before it
    assert log[-1][1].rstrip().endswith("COMMIT")
    assert not [c for c, _ in log if c == COMMAND.COM_PING]


def test_a_connection_returned_inside_a_transaction_is_rolled_back(engine: Any) -> None:
    account_id = _account(engine, "eng-open")
    with engine.connect() as connection:  # a committed use first: the pool then thinks it clean
        connection.execute(text("SELECT 1"))
        connection.commit()
    raw = engine.raw_connection()  # statements the engine's events do not see
    raw.cursor().execute("SELECT id FROM ledger_accounts WHERE id = %s FOR UPDATE", (account_id,))
    with sent() as log:
        raw.close()  # back to the pool inside its transaction
    assert [sql for c, sql in log if c == COMMAND.COM_QUERY] == ["ROLLBACK"]
    with engine.connect() as connection:  # the same pooled connection, reused
        connection.execute(text("SELECT id FROM ledger_accounts WHERE id = :id"), {"id": account_id}).all()
        with sent() as log:
            connection.close()  # a read left open: Connection.close() rolls it back
    assert [sql for c, sql in log if c == COMMAND.COM_QUERY] == ["ROLLBACK"]
    assert _lock_is_free(account_id)


def _lock_is_free(account_id: str) -> bool:
    from adapters.sql.engine import make_engine

    assert MYSQL_URL
    other = make_engine(MYSQL_URL, pool_size=1)
    try:
        with other.connect() as probe:
            statement = text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE NOWAIT")
            found = probe.execute(statement, {"id": account_id}).all()
            probe.rollback()
        return len(found) == 1
    finally:
        other.dispose()


def test_a_dropped_connection_is_replaced_once_for_the_first_statement(engine: Any) -> None:
    account_id = _account(engine, "eng-drop")
    with engine.connect() as connection:
        victim = connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        connection.commit()
    raw = pymysql.connect(
        host=engine.url.host,
        port=engine.url.port or 3306,
        user=engine.url.username,
        password=engine.url.password or "",
        database=engine.url.database,
    )
    try:
        raw.cursor().execute(f"KILL {int(victim)}")
    finally:
        raw.close()

    with SqlUnitOfWorkFactory(engine)() as uow:  # the pooled connection is dead; no ping finds out
        account = uow.ledger.get_account(account_id)
    assert account is not None and account.id == account_id
