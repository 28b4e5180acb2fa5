"""Engines for SQLite (embedded default) and MySQL/MariaDB (production), set up for the ledger."""
from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

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
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_recycle=3600,
            isolation_level="READ COMMITTED",
            **kw,
        )
    return create_engine(parsed, pool_pre_ping=True, **kw)


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
