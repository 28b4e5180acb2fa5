"""A read of a unit of work that has only read carries its own COMMIT (issue 25, the balance in 2 round trips).

On MariaDB each plain SELECT of a unit of work that has neither written nor locked goes as
`SELECT ...; COMMIT` in one packet, and the COMMIT or ROLLBACK that would end the unit of work is
not sent: there is nothing open. What must not change: a lock taken after such reads is held until
the unit of work's COMMIT or ROLLBACK (which are then sent), a write after them is rolled back when
the unit of work does not commit, and nothing is left open on the server between requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql.connections
import pytest
from pymysql.constants import COMMAND
from sqlalchemy import literal, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from adapters.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.mysql


@contextmanager
def packets(only: list[Any] | None = None) -> Iterator[list[str]]:
    """The COM_QUERY packets pymysql sends (one per round trip); with `only`, those of the pymysql
    connection put in it."""
    sent: list[str] = []
    original = pymysql.connections.Connection._execute_command

    def record(self: Any, command: int, sql: Any) -> Any:
        if command == COMMAND.COM_QUERY and (not only or self is only[0]):
            sent.append(sql if isinstance(sql, str) else sql.decode(errors="replace"))
        return original(self, command, sql)

    pymysql.connections.Connection._execute_command = record  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        pymysql.connections.Connection._execute_command = original  # type: ignore[method-assign]


def open_transactions(engine: Engine, thread_id: int) -> int:
    """InnoDB's transactions of that server thread, seen from another connection."""
    with engine.connect() as other:
        found = other.execute(
            text("SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = :t"), {"t": thread_id}
        ).scalar()
        other.rollback()
    return int(found or 0)


def new_account(engine: Engine) -> str:
    name = f"rc-{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ledger_accounts (id, balance, held, last_seq, created_at) "
                "VALUES (:id, 0, 0, 0, UTC_TIMESTAMP(6))"
            ),
            {"id": name},
        )
    return name


def locked_elsewhere(engine: Engine, account: str) -> bool:
    with engine.connect() as other:
        try:
            other.execute(text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE NOWAIT"), {"id": account})
        except OperationalError:
            return True
        finally:
            other.rollback()
    return False


def test_reads_leave_no_transaction_open_and_need_no_rollback(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    account = new_account(mysql_engine)
    raw: list[Any] = []
    with factory.request_scope(), packets(only=raw) as sent:
        with factory() as uow:  # authentication's unit of work: a read, carried on
            raw.append(uow.users._db.connection.connection.dbapi_connection)
            uow.users._db.execute(select(literal(1))).scalar()
        with factory() as uow:
            assert uow.ledger.read_account(account) is not None  # a precompiled read
            assert open_transactions(mysql_engine, raw[0].thread_id()) == 0  # before: the read's, until the ROLLBACK
    assert len(sent) == 2 and all(s.rstrip().endswith(";\nCOMMIT") for s in sent), sent  # no ROLLBACK


def test_a_lock_after_reads_is_held_until_the_rollback_which_is_sent(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    account = new_account(mysql_engine)
    raw: list[Any] = []
    with factory.request_scope(), packets(only=raw) as sent:
        with factory() as uow:
            raw.append(uow.users._db.connection.connection.dbapi_connection)
            uow.users._db.execute(select(literal(1))).scalar()
        with factory() as uow:
            uow.ledger.read_account(account)  # still only reads: ends its transaction
            assert not locked_elsewhere(mysql_engine, account)
            assert uow.ledger.lock_account(account) is not None
            assert locked_elsewhere(mysql_engine, account)  # the lock read opened a transaction of its own
            # leaves without commit
        assert not locked_elsewhere(mysql_engine, account)
    assert sent[-1] == "ROLLBACK", sent
    assert not sent[-2].rstrip().endswith("COMMIT"), sent  # the lock read carries no COMMIT


def test_a_write_after_reads_is_committed_by_a_commit_that_is_sent(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    name = f"rc-{uuid.uuid4().hex[:12]}"
    with factory.request_scope(), packets() as sent:
        with factory() as uow:
            uow.users._db.execute(select(literal(1))).scalar()
            uow.users._db.execute(
                text(
                    "INSERT INTO ledger_accounts (id, balance, held, last_seq, created_at) "
                    "VALUES (:id, 0, 0, 0, UTC_TIMESTAMP(6))"
                ),
                {"id": name},
            )
            uow.commit()
    assert sent[-1] == "COMMIT", sent
    with mysql_engine.connect() as other:
        assert other.execute(text("SELECT id FROM ledger_accounts WHERE id = :id"), {"id": name}).scalar() == name


def test_a_unit_of_work_that_only_read_and_commits_sends_no_commit(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    with packets() as sent:
        with factory() as uow:  # outside a request scope too (workers, the CLI)
            uow.users._db.execute(select(literal(1))).scalar()
            uow.commit()
        with factory() as uow:
            uow.users._db.execute(select(literal(1))).scalar()  # ends without commit: no ROLLBACK either
    assert len(sent) == 2 and all(s.endswith(";\nCOMMIT") for s in sent), sent
