"""A ledger call's writes leave with its COMMIT in one round trip on MariaDB (issue 25, direction 1).

What the batch must keep: a read sees the writes made before it in its unit of work; every value
is escaped by the driver; a duplicate key in the batch is the same `DuplicateRecord` (and a reused
Idempotency-Key replays the first result); a write that must have matched a row stops the COMMIT
behind it. A connection lost during the batched COMMIT is settled by the key:
tests/integration/test_commit_outcome_mariadb.py (its proxy cuts the batch).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql.connections
import pytest
from pymysql.constants import COMMAND

from adapters.queue.recording import RecordingJobQueue
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.ledger.model import Account, Entry, EntryKind, Grant, GrantSource
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.backends import sqlite_engine
from tests.fixtures.settings import T0, make_settings, unique


@contextmanager
def packets() -> Iterator[list[str]]:
    """The COM_QUERY packets pymysql sends: one per round trip."""
    sent: list[str] = []
    original = pymysql.connections.Connection._execute_command

    def record(self: Any, command: int, sql: Any) -> Any:
        if command == COMMAND.COM_QUERY:
            sent.append(sql if isinstance(sql, str) else sql.decode(errors="replace"))
        return original(self, command, sql)

    pymysql.connections.Connection._execute_command = record  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        pymysql.connections.Connection._execute_command = original  # type: ignore[method-assign]


def shape(sent: list[str]) -> list[str]:
    """Each packet as its first word, and `+COMMIT` when it ends with a COMMIT it carries."""
    words = []
    for sql in sent:
        first, last = sql.split()[0].upper(), sql.rstrip().rsplit(None, 1)[-1].upper()
        words.append(first + ("+COMMIT" if last == "COMMIT" and first != "COMMIT" else ""))
    return words


@pytest.fixture(params=["sqlite", "mariadb"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "batch.db")
        request.addfinalizer(engine.dispose)
        return engine
    return request.getfixturevalue("mysql_engine")


@pytest.fixture
def container(engine: Any) -> Container:
    queue = RecordingJobQueue()
    return bootstrap(make_settings(), clock=ManualClock(T0), queue=queue, uow=SqlUnitOfWorkFactory(engine, queue))


@pytest.fixture
def on_mariadb(mysql_engine: Any) -> Container:
    """For what exists only on MariaDB (the batch, the account-and-grant UPDATE): no SQLite twin to skip."""
    queue = RecordingJobQueue()
    return bootstrap(make_settings(), clock=ManualClock(T0), queue=queue, uow=SqlUnitOfWorkFactory(mysql_engine, queue))


def funded(container: Container, credits: int = 100) -> str:
    account = unique("acct")
    container.ledger.open_account(account)
    container.ledger.grant(account, source=GrantSource.ADMIN, amount=credits, idempotency_key=unique("fund"))
    return account


def mariadb(engine: Any) -> bool:
    return bool(engine.dialect.name in ("mysql", "mariadb"))


def test_a_charge_is_the_lock_read_then_its_writes_with_the_commit(container: Container, engine: Any) -> None:
    account = funded(container)
    with packets() as sent:
        charged = container.ledger.charge(account, feature_key="api.call", idempotency_key=unique("k"))
    assert charged.balance.balance == 99
    if mariadb(engine):  # before: SELECT, then INSERT x4, UPDATE, INSERT, COMMIT (8 round trips)
        assert shape(sent) == ["SELECT", "INSERT+COMMIT"], sent
        assert sent[1].count(";") >= 4  # entry, allocation, usage, account + grant, idempotency record
    assert container.ledger.balance(account).balance == 99


def test_a_reused_key_replays_the_first_charge_when_the_batch_meets_the_duplicate(
    container: Container, engine: Any
) -> None:
    account = funded(container)
    key = unique("k")
    first = container.ledger.charge(account, feature_key="api.call", idempotency_key=key)
    with packets() as sent:
        again = container.ledger.charge(account, feature_key="api.call", idempotency_key=key)
    assert again == first
    assert container.ledger.balance(account).balance == 99  # charged once
    if mariadb(engine):  # the duplicate is met in the batch: its COMMIT never runs, the first result is read back
        assert shape(sent) == ["SELECT", "INSERT+COMMIT", "SELECT", "ROLLBACK"], sent


def test_a_write_that_missed_its_row_stops_the_commit_behind_it(on_mariadb: Container) -> None:
    """MariaDB's one-grant charge updates the account and the grant in one statement, which finds no
    row when the grant is another account's (SQLite updates the grant by its id: no such check)."""
    container = on_mariadb
    mine, other = funded(container), funded(container)
    uow = container.uow
    with uow() as unit:
        others = unit.ledger.all_grants(other)
    stray = Grant(id=others[0].id, account_id=mine, source=GrantSource.ADMIN, granted=100, remaining=1, created_at=T0)
    entry = Entry(
        id=unique("txn"),
        account_id=mine,
        seq=99,
        kind=EntryKind.ADJUSTMENT,
        amount=0,
        balance_after=100,
        idempotency_key=unique("k"),
        created_at=T0,
    )
    with pytest.raises(LookupError), uow() as unit:  # raised by the batch's guard, before its COMMIT
        locked = unit.ledger.lock_account(mine)
        assert locked is not None
        unit.ledger.add_entry(entry)
        unit.ledger.update_account(locked[0], [stray])  # the grant is not this account's: no row
        unit.commit()
    with uow() as unit:
        assert entry.id not in [e.id for e in unit.ledger.list_entries(mine, limit=50)]  # nothing committed
        assert unit.ledger.get_grant(stray.id) == others[0]


def test_a_read_sees_the_writes_its_unit_of_work_made_before_it(container: Container, engine: Any) -> None:
    account = unique("acct")
    with container.uow() as unit:
        unit.ledger.add_account(Account(id=account, created_at=T0))
        grant = Grant(
            id=unique("grt"), account_id=account, source=GrantSource.PROMO, granted=5, remaining=5, created_at=T0
        )
        with packets() as sent:
            unit.ledger.add_grant(grant)
            deferred = list(sent)
            assert unit.ledger.all_grants(account) == [grant]
        unit.commit()
    if mariadb(engine):
        assert deferred == []  # the INSERT waited for the read, and went just before it
        assert shape(sent) == ["INSERT", "SELECT"], sent


def test_every_value_in_a_batch_is_escaped_by_the_driver(container: Container) -> None:
    account = funded(container)
    reference = "o'hara \\' \"; DELETE FROM ledger_entries; -- 100% ☃ COMMIT"
    key = f"k-{uuid.uuid4().hex}"
    charged = container.ledger.charge(account, feature_key="api.call", idempotency_key=key, reference=reference)
    assert charged.entry is not None and charged.entry.reference == reference
    with container.uow() as unit:
        (entry,) = unit.ledger.list_entries(account, limit=1, kind=EntryKind.CHARGE)
    assert entry.reference == reference and entry.idempotency_key == key


def test_a_commit_after_a_batched_one_on_the_same_connection_is_sent(on_mariadb: Container, mysql_engine: Any) -> None:
    """The COMMIT a batch carried excuses SQLAlchemy's own once, never a later unit's."""
    container, engine = on_mariadb, mysql_engine
    account, later = funded(container), unique("acct")
    factory = container.uow
    assert isinstance(factory, SqlUnitOfWorkFactory)
    with factory.request_scope(), packets() as sent:  # one connection for both units of work
        container.ledger.charge(account, feature_key="api.call", idempotency_key=unique("k"))
        with factory() as unit:
            unit.ledger.add_account(Account(id=later, created_at=T0))  # sent at once: not a deferred write
            unit.commit()
    assert shape(sent)[-2:] == ["INSERT", "COMMIT"], sent
    with engine.connect() as other:  # committed: another connection sees it
        assert other.exec_driver_sql("SELECT id FROM ledger_accounts WHERE id = %s", (later,)).scalar() == later


def test_a_budgeted_hold_and_its_capture_read_once_each_and_write_with_the_commit(on_mariadb: Container) -> None:
    """Issue 25 (the chat's ledger phase): a hold under a workspace budget reads the caps and the
    month's usage in one SELECT and upserts the rollup and its reservation with the COMMIT; its
    capture finds the hold among the active holds it reads anyway (no second read of the hold) and
    drops the reservation with the COMMIT. Before, the hold alone took seven round trips or more."""
    from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope

    container = on_mariadb
    account = funded(container)
    scope = BudgetScope(budget_id=unique("ws"), member_id=account)  # no such workspace: no caps, usage kept
    with packets() as sent:
        held = container.ledger.hold(account, amount=10, idempotency_key=unique("h"), budget=scope)
    assert held.hold is not None
    assert shape(sent) == ["SELECT", "SELECT", "INSERT+COMMIT"], shape(sent)  # lock, caps + usage, writes
    with packets() as sent:
        captured = container.ledger.capture(account, held.hold.id, amount=4, idempotency_key=unique("c"))
    assert captured.balance.balance == 96
    assert shape(sent) == ["SELECT", "SELECT", "SELECT", "DELETE+COMMIT"], sent  # lock, holds, reservation
    with container.uow() as unit:
        assert unit.budgets.usage_of_month(scope.budget_id, T0.strftime("%Y-%m")) == {WORKSPACE_LEVEL: 4, account: 4}
        assert unit.budgets.take_reservation(held.hold.id) is None
