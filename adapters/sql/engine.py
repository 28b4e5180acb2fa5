"""Engines for SQLite (embedded default) and MySQL/MariaDB (production), set up for the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from adapters.sql.batch import BATCH_COMMITTED, MULTI_STATEMENTS, THEN_COMMIT, TRANSACTION_ENDED, statement_sent
from adapters.sql.outage import DbTimeouts, mysql_connect_args


def make_engine(url: str, *, timeouts: DbTimeouts | None = None, **kw: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kw)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        if timeouts is not None:  # the service's engines; migrations may run longer than any request
            kw.setdefault("connect_args", mysql_connect_args(timeouts))
        # READ COMMITTED: a read after the account lock sees every write committed before it.
        # No pre-ping round trip per checkout: connections are recycled before the server's
        # wait_timeout, and a unit of work whose first statement finds its connection dropped is
        # retried once on a new one (adapters.sql.db.Db). No ROLLBACK on return after a commit.
        engine = create_engine(
            parsed,
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_reset_on_return=None,
            isolation_level="READ COMMITTED",
            **kw,
        )
        _rollback_on_return_only_when_needed(engine)
        if engine.dialect.driver == "pymysql":
            _batch_writes_with_commit(engine)
        _galera_sessions(engine, timeouts.sync_wait if timeouts is not None else 0)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kw)


POOL_RECYCLE_SECONDS = 600  # well under MariaDB's default wait_timeout (8 hours) and common proxies' idle cuts


def _rollback_on_return_only_when_needed(engine: Engine) -> None:
    """The pool's reset-on-return, minus the ROLLBACK after a unit of work that already committed
    or rolled back: a connection goes back to the pool with no transaction open, either way."""

    def dirty(conn: Any, *_: Any) -> None:
        statement_sent(conn.info)  # whatever this statement is, it may open a transaction

    def clean(conn: Any) -> None:
        if not conn.invalidated:  # an invalidated connection goes, it is never lent again
            conn.info["houston_open"] = False

    def failed(context: Any) -> None:
        if context.connection is not None and not (context.connection.closed or context.connection.invalidated):
            context.connection.info["houston_open"] = True

    def lent(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        record.info["houston_open"] = True  # raw DBAPI use is never seen as clean
        record.info.pop(TRANSACTION_ENDED, None)

    event.listen(engine, "checkout", lent)
    event.listen(engine, "before_cursor_execute", dirty)
    event.listen(engine, "commit", clean)
    event.listen(engine, "rollback", clean)
    event.listen(engine, "handle_error", failed)

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        if state.terminate_only or not state.asyncio_safe:
            return
        info = record.info if record is not None else {}
        if state.transaction_was_reset or info.get("houston_open") is False:
            return
        dbapi_connection.rollback()
        info["houston_open"] = False


def _batch_writes_with_commit(engine: Engine) -> None:
    """Issue 25: a unit of work's writes leave in one batch with its COMMIT (adapters/sql/batch.py).
    Every connection may send several statements per COM_QUERY (CLIENT.MULTI_STATEMENTS: only the
    batch does; every value in it is escaped by the driver), and a COMMIT that went with the batch
    is not sent again when SQLAlchemy ends its transaction. Likewise a read that carried its own
    COMMIT (adapters/sql/db.py, Db._run) leaves no transaction for a COMMIT or ROLLBACK to end."""
    dialect: Any = engine.dialect
    send_commit, send_rollback = dialect.do_commit, dialect.do_rollback

    @event.listens_for(engine, "do_connect")
    def _multi_statements(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["client_flag"] = cparams.get("client_flag", 0) | MULTI_STATEMENTS

    def do_commit(dbapi_connection: Any) -> None:
        info = dbapi_connection.info
        ended = info.pop(TRANSACTION_ENDED, False)
        if info.pop(BATCH_COMMITTED, False) or ended:
            return
        send_commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            info = dbapi_connection.info
        except NotImplementedError:  # the engine's first connect: no pool record yet
            info = {}
        if info.pop(TRANSACTION_ENDED, False):  # a read's own COMMIT ended it: nothing open
            return
        send_rollback(dbapi_connection)

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _then_commit(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool) -> Any:
        if context is not None and context.execution_options.get(THEN_COMMIT):
            statement += ";\nCOMMIT"  # a read that ends its transaction (adapters/sql/db.py, Db._run)
        return statement, parameters

    dialect.do_commit = do_commit
    dialect.do_rollback = do_rollback
    dialect.houston_batches = True


def _galera_sessions(engine: Engine, sync_wait: int) -> None:
    """What a session on a Galera node needs, found by asking once per new connection
    (`SELECT @@wsrep_on`; a plain MariaDB or MySQL server is left alone: MySQL has no such variable,
    MariaDB without a provider says 0):

    - No write batches (issue 25; adapters/sql/batch.py reads the mark). A transaction aborted by a
      conflicting write set applied from another node (a brute-force abort) fails the statement it
      hits, yet the node goes on with the rest of the packet in a new transaction and commits it:
      the writes after the failed one committed (an idempotency record without its entry), their
      answers left unread on the connection. Measured on the three-node cluster: 60 charges from 3
      nodes, one answered 201 without its entry in 2 of 3 runs. Plain MariaDB stops a packet at a
      deadlock and commits nothing of it.
    - `wsrep_sync_wait` (issue 20; `DB_SYNC_WAIT`, 0: off). Without it a node answers from what it
      has applied, which may lag what the cluster has committed: a capture on node 2 right after
      the hold committed on node 1 answered `404 hold_not_found` in 0.3-4 % of tries. Bit 1 (READ:
      SELECT, SHOW, BEGIN) makes each read wait until the node has applied everything committed
      before it started. Every unit of work starts with a read (the account lock, the user, the
      key), so it sees every earlier request's writes, whichever node took them; writes need no
      wait (certification orders them). Cost measured in the README ("Running on a Galera cluster")."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            try:
                cursor.execute("SELECT @@wsrep_on")
                row = cursor.fetchone()
            except Exception:  # noqa: BLE001 - MySQL: no wsrep variables, so no Galera
                return
            if not (row and int(row[0] or 0) == 1):
                return
            dbapi_connection.houston_galera = True
            if sync_wait:
                cursor.execute(f"SET SESSION wsrep_sync_wait = {int(sync_wait)}")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)


def _sqlite_engine(url: str, **kw: Any) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below issue BEGIN itself: pysqlite would defer it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # One writer at a time: the whole unit of work holds SQLite's write lock from its start,
        # which is what SELECT ... FOR UPDATE gives per row on MariaDB.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_mysql(engine: Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")
