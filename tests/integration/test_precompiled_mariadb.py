"""Hot reads on the DBAPI cursor (issue 25, direction 3): `Db.execute_precompiled` on MariaDB.

The statement is compiled once and sent on the driver's cursor, without SQLAlchemy's execution
context, events and result metadata per execution. What must not change: the rows, the errors
(a `DBAPIError` naming the statement, translated as `Db.execute` translates them), the engine's
`handle_error` listeners (the database error metric), and the transaction SQLAlchemy tracks.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from adapters.sql.db import Precompiled
from adapters.sql.ledger import READ_ACCOUNT
from adapters.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.mysql

_missing = Table("no_such_table_i25e", MetaData(), Column("id", String(40)))
MISSING = Precompiled(select(_missing.c.id).where(_missing.c.id == bindparam("id")))


def new_account(engine: Engine) -> str:
    name = f"pc-{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ledger_accounts (id, balance, held, last_seq, created_at) "
                "VALUES (:id, 7, 2, 3, UTC_TIMESTAMP(6))"
            ),
            {"id": name},
        )
    return name


def test_a_hot_read_skips_sqlalchemys_execution_and_gives_the_same_rows(mysql_engine: Engine) -> None:
    account = new_account(mysql_engine)
    executions: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        executions.append(statement)

    factory = SqlUnitOfWorkFactory(mysql_engine)
    event.listen(mysql_engine, "before_cursor_execute", seen)
    try:
        with factory() as uow:
            hot = uow.ledger._db.execute_precompiled(Precompiled(READ_ACCOUNT), {"account_id": account})
    finally:
        event.remove(mysql_engine, "before_cursor_execute", seen)
    assert executions == []  # before: one exec_driver_sql through Core per read
    with factory() as uow:
        core = [tuple(row) for row in uow.ledger._db.execute(READ_ACCOUNT, {"account_id": account})]
    assert [tuple(row)[:4] for row in hot] == [row[:4] for row in core] == [(account, 7, 2, 3)]


def test_a_driver_error_on_a_hot_read_is_sqlalchemys_and_the_listeners_hear_it(mysql_engine: Engine) -> None:
    heard: list[Any] = []

    def listener(context: Any) -> None:
        heard.append(context.original_exception)

    factory = SqlUnitOfWorkFactory(mysql_engine)
    event.listen(mysql_engine, "handle_error", listener)
    try:
        with pytest.raises(DBAPIError) as raised:
            with factory() as uow:
                uow.users._db.execute_precompiled(MISSING, {"id": "x"})
    finally:
        event.remove(mysql_engine, "handle_error", listener)
    assert "no_such_table_i25e" in str(raised.value.statement)
    assert raised.value.orig is not None and raised.value.orig.args[0] == 1146  # table doesn't exist
    assert len(heard) == 1 and heard[0] is raised.value.orig  # the metric counts it (entrypoints/observability.py)
    assert mysql_engine.pool.checkedout() == 0


def test_a_hot_read_after_a_commit_is_in_a_transaction_sqlalchemy_ends(mysql_engine: Engine) -> None:
    """A commit ends SQLAlchemy's transaction; the raw read begins the next one, as Core's autobegin
    does, so the lock it takes is released by the unit of work's end."""
    account = new_account(mysql_engine)
    factory = SqlUnitOfWorkFactory(mysql_engine)
    with factory() as uow:
        uow.commit()
        assert uow.ledger.lock_account(account) is not None
        connection = uow.ledger._db.connection
        assert connection.in_transaction()
    with mysql_engine.connect() as other:
        found = other.execute(text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE NOWAIT"), {"id": account})
        assert found.scalar() == account  # not still locked
        other.rollback()
