"""Writes that leave in one round trip with the COMMIT (issue 25, direction 1).

On MySQL/MariaDB through PyMySQL, a unit of work's deferred writes (`Db.write`: the ledger's hot
verbs) wait in a `WriteBatch` until the next read (sent alone, before it: a read sees every write
of its unit) or the COMMIT (sent in the same COM_QUERY: `INSERT ...; UPDATE ...; COMMIT`). Values
are rendered by the driver's own escaping (`cursor.mogrify`, the connection's charset) after the
columns' bind processing, exactly what an execute would have sent. Each statement's result is read
in turn (`nextset`), so an error names the statement that failed: a duplicate key is the same
`IntegrityError` (then `DuplicateRecord`) as when the write ran alone. MariaDB stops a batch at its
first error: the COMMIT after it is never run, and the unit of work rolls back as before.

A write that must have touched rows (an UPDATE's rowcount) is followed in the batch by a guard that
fails (1242, "Subquery returns more than 1 row") when `ROW_COUNT()` is short, so the COMMIT behind it
never runs; the guard's failure raises the write's own error. The connection needs
CLIENT.MULTI_STATEMENTS, which `adapters.sql.engine.make_engine` sets, together with a `do_commit`
that skips the COMMIT a batch already sent. SQLite (and any other driver) runs each write at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

MULTI_STATEMENTS = 1 << 16  # CLIENT_MULTI_STATEMENTS, a capability flag of the MySQL protocol
BATCH_COMMITTED = "houston_batch_committed"  # connection info: the COMMIT went with the batch
# connection info: the last statement sent was a read that ended its transaction with a COMMIT of its
# own (`Db`'s reads of a unit of work that only read): nothing is open, no COMMIT or ROLLBACK to send
TRANSACTION_ENDED = "houston_transaction_ended"
THEN_COMMIT = "houston_then_commit"  # execution option: send the statement with `;\nCOMMIT` after it
_SHORT_ROWCOUNT = 1242  # what the guard raises: "Subquery returns more than 1 row"


@dataclass(frozen=True, slots=True)
class RowCheck:
    """The write must have matched at least `rows` rows (found, not changed), else `error()`."""

    rows: int
    error: Callable[[], Exception]


def batches_writes(connection: Connection) -> bool:
    """Whether this connection's writes can be deferred into one batch with the COMMIT."""
    dialect = connection.dialect
    if dialect.driver != "pymysql" or not getattr(dialect, "houston_batches", False):
        return False
    raw = connection.connection.dbapi_connection
    if getattr(raw, "houston_galera", False):  # adapters/sql/engine.py: never on a Galera node
        return False
    return bool(getattr(raw, "client_flag", 0) & MULTI_STATEMENTS)


def _guard(check: RowCheck) -> str:
    short = f"SELECT 1 FROM DUAL WHERE ROW_COUNT() < {int(check.rows)}"
    return f"SELECT ({short} UNION ALL {short})"


_COMPILED: dict[tuple[int, str, tuple[str, ...]], tuple[Executable, Any]] = {}


def _compiled(statement: Executable, dialect: Any, keys: tuple[str, ...]) -> Any:
    """The statement compiled for these parameter names, cached while the statement lives (the
    hot statements are module constants; one built per call is compiled per call)."""
    key = (id(statement), dialect.name, keys)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is statement:
        return hit[1]
    if len(_COMPILED) > 512:
        _COMPILED.clear()
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    _COMPILED[key] = (statement, compiled)
    return compiled


class WriteBatch:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.pending: list[tuple[str, RowCheck | None]] = []

    def add(
        self,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        check: RowCheck | None = None,
    ) -> None:
        rows = [params] if isinstance(params, Mapping) else list(params)
        for row in rows:
            self.pending.append((self._render(statement, row), None))
        if check is not None:
            self.pending.append((_guard(check), check))

    def discard(self) -> None:
        self.pending = []

    def _render(self, statement: Executable, row: Mapping[str, Any]) -> str:
        dialect = self.connection.dialect
        compiled = _compiled(statement, dialect, tuple(sorted(row)))
        values = compiled.construct_params(row)
        for name, process in compiled._bind_processors.items():
            if name in values:
                values[name] = process(values[name])
        escaped = compiled.escaped_bind_names
        if escaped:
            values = {escaped.get(name, name): value for name, value in values.items()}
        cursor = self.connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            return str(cursor.mogrify(compiled.string, values))
        finally:
            cursor.close()

    def send(self, *, commit: bool) -> None:
        """Send what is pending (and COMMIT) in one round trip; raise the first statement's error
        as SQLAlchemy would have (a `DBAPIError` naming that statement; the connection invalidated
        when it was lost), or the error of a write whose rows were missing."""
        statements, self.pending = self.pending, []
        self.connection.connection.info.pop(TRANSACTION_ENDED, None)  # writes open a transaction
        if commit:
            statements.append(("COMMIT", None))
        if not statements:
            return
        raw = self.connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        done = 0
        try:
            cursor.execute(";\n".join(sql for sql, _ in statements))
            done = 1
            while cursor.nextset():
                done += 1
        except self.connection.dialect.loaded_dbapi.Error as error:
            self._raise(error, statements[min(done, len(statements) - 1)], raw, cursor)
        finally:
            try:
                cursor.close()
            except Exception:  # noqa: BLE001 - the connection died: the error in flight says so
                pass
        if commit:
            self.connection.connection.info[BATCH_COMMITTED] = True

    def sent_commit_consumed(self) -> None:
        """After SQLAlchemy ended its transaction: the COMMIT sent with the batch must never excuse
        a later one on this connection (`do_commit` takes the mark; this clears it if it did not)."""
        try:
            self.connection.connection.info.pop(BATCH_COMMITTED, None)
        except exc.SQLAlchemyError:  # invalidated or closed meanwhile: nothing will commit on it
            pass

    def _raise(self, error: Exception, failed: tuple[str, RowCheck | None], raw: Any, cursor: Any) -> None:
        sql, check = failed
        code = error.args[0] if error.args else None
        if check is not None and code == _SHORT_ROWCOUNT:
            raise check.error() from error
        raise driver_error(self.connection, sql, None, error, raw, cursor) from error


def statement_sent(info: dict[str, Any]) -> None:
    """What the engine notes on a connection's pool record before each statement (engine.py): it
    may have opened a transaction. Raw DBAPI statements (`Db.execute_precompiled`) note it too."""
    info["houston_open"] = True
    info.pop(TRANSACTION_ENDED, None)


def driver_error(
    connection: Connection, sql: str, params: Any, error: Exception, raw: Any, cursor: Any
) -> exc.StatementError:
    """A driver error met on the raw DBAPI connection, as SQLAlchemy would have raised it: wrapped in
    a `DBAPIError` naming the statement, the connection invalidated when it was lost, and the
    engine's `handle_error` listeners told (the database error metric, engine.py's bookkeeping)."""
    from sqlalchemy.engine.base import ExceptionContextImpl

    dialect = connection.dialect
    lost = dialect.is_disconnect(error, raw, cursor)  # type: ignore[arg-type]
    wrapped = exc.DBAPIError.instance(
        sql, params, error, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )
    context = ExceptionContextImpl(
        error, wrapped, connection.engine, dialect, connection, cursor, sql, params, None, lost, False, False
    )
    for listener in dialect.dispatch.handle_error:
        try:
            listener(context)
        except Exception:  # noqa: BLE001 - a listener's failure must not replace the driver's error
            pass
    if lost:
        connection.invalidate(wrapped)
    return wrapped
