"""The connection the SQL repositories share, and driver errors turned into domain errors.

Its own module (not adapters.sql.uow) so that the repositories import it without importing the
unit of work, which imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, overload

from sqlalchemy import Table, exc
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.sql import Executable, Select

from adapters.sql.batch import (
    THEN_COMMIT,
    TRANSACTION_ENDED,
    RowCheck,
    WriteBatch,
    batches_writes,
    driver_error,
    statement_sent,
)
from adapters.sql.outage import connection_unusable, database_unavailable, is_timeout
from domain.shared.errors import Conflict, DuplicateRecord, NotFound, TransientError

T = TypeVar("T")

# MySQL/MariaDB error numbers that mean "try the whole transaction again". Lost connections
# (2006, 2013) are not among them: they are `Unavailable` (adapters/sql/outage.py), after
# `Db.execute`'s one retry of a unit of work's first statement.
_RETRYABLE_MYSQL = {1205, 1213}


def translate(error: exc.DBAPIError) -> Exception:
    """Turn a driver error into a domain error, or return it unchanged."""
    if isinstance(error, exc.IntegrityError):
        return _integrity(error)
    unavailable = database_unavailable(error)
    if unavailable is not None:
        return unavailable
    orig = error.orig
    code = orig.args[0] if orig is not None and orig.args else None
    if isinstance(code, int) and code in _RETRYABLE_MYSQL:
        return TransientError("The database is busy; try again.")
    if "database is locked" in str(orig):
        return TransientError("The database is busy; try again.")
    return error


# Foreign-key failures are not duplicates (issue 19, defect 7): MySQL/MariaDB 1452 (the row refers
# to one that is gone: deleted meanwhile) is 404; 1451 (a row is still referred to) and SQLite's
# single message for both directions are 409 conflict.
_FK_MISSING_PARENT, _FK_STILL_REFERENCED = 1452, {1451, 1217}


def _integrity(error: exc.IntegrityError) -> Exception:
    orig = error.orig
    code = orig.args[0] if orig is not None and orig.args else None
    sqlite_fk = "FOREIGN KEY constraint failed" in str(orig)
    inserting = (error.statement or "").lstrip().upper().startswith("INSERT")
    if code == _FK_MISSING_PARENT or (sqlite_fk and inserting):
        return NotFound("What this refers to no longer exists (it was deleted meanwhile).")
    if code in _FK_STILL_REFERENCED or sqlite_fk:
        return Conflict("What this refers to was changed or deleted meanwhile; try again.")
    return DuplicateRecord("The record already exists.")


def raise_translated(error: exc.DBAPIError) -> NoReturn:
    """Raise `error` as its domain error, or unchanged when it has none (call it from `except`)."""
    translated = translate(error)
    if translated is error:
        raise error
    raise translated from error


def guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except exc.DBAPIError as error:
        raise_translated(error)
    except exc.PendingRollbackError as error:  # a statement after the connection died mid-transaction
        raise connection_unusable() from error


@overload
def aware_utc(value: datetime) -> datetime: ...
@overload
def aware_utc(value: None) -> None: ...
def aware_utc(value: datetime | None) -> datetime | None:
    """A stored (naive UTC) datetime as the aware one the domain uses; an aware one unchanged."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Precompiled:
    """A hot read compiled once per dialect (issue 25, direction 3): on MySQL/MariaDB it is sent as
    driver SQL, with no cache-key walk, compile lookup or result processing per execution
    (bench/statements.py: about half the CPU of Core's execute). Only for SELECTs (a locking one
    too): rows come back as the driver gives them, so the caller converts what needs it (a
    DATETIME comes back naive: `aware_utc`). SQLite runs the statement through Core as before."""

    def __init__(self, statement: Select[Any]) -> None:
        if not statement.is_select:
            raise ValueError("only SELECTs are precompiled")
        self.statement = statement
        self.locks = getattr(statement, "_for_update_arg", None) is not None
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}

    def for_dialect(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            form = self.statement.compile(dialect=dialect)
            compiled = self._compiled[dialect.name] = (str(form), dict(form.params))
        return compiled


class Db:
    """The connection the repositories share, with driver errors translated to domain errors.

    The pool does not ping a connection before lending it. If the first statement of the unit
    of work finds the connection dropped (server restart, idle cut), nothing has happened in
    this transaction yet: the statement is sent once more on a fresh connection. Not after a read
    timeout: a server that did not answer in time is frozen or overloaded, and a second try would
    only double the wait before the 503 (issue 20: 15 s on a stopped server).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self._first = True
        self.read_only = True  # nothing but plain SELECTs so far: no write, no lock (issue 25)
        # issue 25: writes deferred to the next statement or the COMMIT (adapters/sql/batch.py)
        self.batch: WriteBatch | None = WriteBatch(connection) if batches_writes(connection) else None
        # issue 25: while the unit of work has only read, each read carries its own COMMIT in the same
        # packet (see `_run`); only on the engine's READ COMMITTED, where nothing spans statements
        self._reads_end = self.batch is not None and "isolation_level" not in connection.get_execution_options()

    def write(self, statement: Executable, params: Any, *, check: RowCheck | None = None) -> None:
        """A write whose result nobody reads: sent with the next statement or the COMMIT where
        writes are batched (its errors, `check`'s included, are raised then), at once elsewhere."""
        self.read_only = False
        if self.batch is None:
            result = self.execute(statement, params)
            if check is not None and result.rowcount < check.rows:
                raise check.error()
            return
        self._first = False  # a lost connection is never retried once writes were made
        self.batch.add(statement, params, check)

    def flush(self) -> None:
        """Send the deferred writes (before a statement that may read them)."""
        if self.batch is not None and self.batch.pending:
            guarded(lambda: self.batch.send(commit=False))  # type: ignore[union-attr]

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        self.flush()
        if self.read_only and not (statement.is_select and getattr(statement, "_for_update_arg", None) is None):
            self.read_only = False
        if self._reads_end and self.read_only:
            return self._run(
                lambda: self.connection.execute(statement, params, execution_options=_THEN_COMMIT), ends=True
            )
        return self._run(lambda: self.connection.execute(statement, params), ends=False)

    def execute_precompiled(self, hot: Precompiled, params: dict[str, Any]) -> list[Sequence[Any]]:
        """`hot` with `params`, its rows: on MySQL/MariaDB sent as driver SQL on the DBAPI cursor
        (issue 25, direction 3: no execution context, events or result metadata per execution;
        the same errors, the same first-statement retry and the same COMMIT after a read as
        `execute`), through Core elsewhere."""
        if self.dialect not in ("mysql", "mariadb"):
            return list(self.execute(hot.statement, params))
        sql, constants = hot.for_dialect(self.connection.dialect)
        values = {**constants, **params} if constants else params
        self.flush()
        if hot.locks:
            self.read_only = False
        ends = self._reads_end and self.read_only
        return self._run(lambda: self._raw(sql + _COMMIT if ends else sql, values), ends=ends)

    def _raw(self, sql: str, values: dict[str, Any]) -> list[Sequence[Any]]:
        connection = self.connection
        transaction = connection.get_transaction()
        if transaction is None:
            connection.begin()  # what Core's autobegin does (a commit may have ended the last one)
        elif not transaction.is_active:
            raise exc.PendingRollbackError("the transaction died with an earlier statement")
        proxied = connection.connection  # reconnects an invalidated connection, as Core does
        statement_sent(proxied.info)
        raw = proxied.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.execute(sql, values)
            rows = list(cursor.fetchall())
            cursor.close()  # reads the COMMIT's answer after a read's rows
        except connection.dialect.loaded_dbapi.Error as error:
            raise driver_error(connection, sql, values, error, raw, cursor) from error
        return rows

    def _run(self, call: Callable[[], T], *, ends: bool) -> T:
        """Run a statement: the same errors, and the first statement of the unit of work sent once
        more on a fresh connection when it found its connection dropped.

        A read of a unit of work that has only read so far goes with a COMMIT in the same packet
        (issue 25): under READ COMMITTED each plain SELECT reads what is committed when it runs and
        locks nothing, so ending the transaction after it changes nothing the unit of work can see,
        and leaves nothing open: no ROLLBACK round trip at the end of a read-only request. The
        connection is marked, so that SQLAlchemy's COMMIT or ROLLBACK that follows is not sent
        (engine.py); any other statement clears the mark. A lock or a write later in the unit of
        work starts a new transaction (autocommit is off) that its COMMIT ends as before."""
        first, self._first = self._first, False
        try:
            result = call()
        except exc.DBAPIError as error:
            if not (first and error.connection_invalidated) or is_timeout(error):
                raise_translated(error)
            self.connection.rollback()  # ends the invalidated transaction; the next use reconnects
            result = guarded(call)
        except exc.PendingRollbackError as error:
            raise connection_unusable() from error
        if ends:
            self.connection.connection.info[TRANSACTION_ENDED] = True
        return result


_COMMIT = ";\nCOMMIT"
_THEN_COMMIT = {THEN_COMMIT: True}


def upsert_adding(table: Table, column: str) -> dict[str, Executable]:
    """Per dialect name: INSERT a row, or add its `column` to the row that has the same primary
    key (a roll-up: the ledger's monthly usage, a budget's). One statement, so it can wait in a
    write batch (batch.py); built once per table, so the batch compiles it once."""
    on_mysql = mysql.insert(table)
    on_sqlite = sqlite.insert(table)
    total = table.c[column]
    adding = on_mysql.on_duplicate_key_update({column: total + on_mysql.inserted[column]})
    return {
        "mysql": adding,
        "mariadb": adding,
        "sqlite": on_sqlite.on_conflict_do_update(
            index_elements=list(table.primary_key.columns), set_={column: total + on_sqlite.excluded[column]}
        ),
    }
