"""A database that is down or frozen: bounded waits, and a 503 instead of a 500 or a hang.

Without timeouts PyMySQL waits forever on a frozen server (the process stopped, the TCP
connection open), so a request hung until gunicorn killed its worker. Every MySQL/MariaDB
connection now carries:
- `connect_timeout`: how long opening the TCP connection may take;
- `read_timeout` / `write_timeout`: how long one read or write on the socket may block (this
  bounds the server greeting and every query);
- `innodb_lock_wait_timeout` for the session (`init_command`): how long a statement waits for a
  row lock before MariaDB answers 1205, which the unit of work retries as contention.
Keep the read timeout above the lock wait (defaults 5 > 2): otherwise a lock wait ends as a
dropped connection (503 at once, not retried) instead of MariaDB's 1205.
Measured with a proxy that freezes (tests/integration/test_database_outage.py): the first request
on a frozen server takes about twice the read timeout (its first statement times out, then
`Db.execute`'s one retry on a new connection waits for a server greeting that never comes), later ones about once; a host that
refuses or cannot be reached costs at most the connect timeout. Then `503 service_unavailable`.

The driver's "cannot connect" and "lost the connection" errors become `Unavailable` (503 with
Retry-After); they are not retried here, so a frozen database costs one timeout, not five.
After the database comes back, SQLAlchemy has already invalidated the dead pool and the next
request connects afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from domain.shared.errors import Unavailable

# MySQL client errors: 2002 no socket, 2003 cannot connect, 2005 unknown host, 2006 server has
# gone away, 2013 lost connection during query (also a read timeout), 2055 lost connection at
# a stage of the handshake.
CONNECTION_ERRORS = frozenset({2002, 2003, 2005, 2006, 2013, 2055})
# Galera: 1047 "WSREP has not yet prepared node for application use" (a node that is joining, or
# that left the primary component): this node cannot serve, the cluster may well; nothing was done.
NODE_NOT_READY = frozenset({1047})


def error_code(error: exc.DBAPIError) -> int | None:
    orig = error.orig
    code = orig.args[0] if orig is not None and orig.args else None
    return code if isinstance(code, int) else None


def is_timeout(error: exc.DBAPIError) -> bool:
    """PyMySQL's read/write timeout: 2013 "Lost connection ... (timed out)". The server is frozen or
    very slow; a retry on a new connection would only wait as long again."""
    return error_code(error) == 2013 and "timed out" in str(error.orig)


@dataclass(frozen=True, slots=True)
class DbTimeouts:
    connect: float = 3
    read: float = 5
    write: float = 5
    lock_wait: int = 2  # seconds; InnoDB accepts whole seconds only
    # Galera only: the session's `wsrep_sync_wait` (causal reads; adapters/sql/engine.py). Left
    # alone on a server that is not a Galera node, where it means nothing (or does not exist).
    sync_wait: int = 1


def mysql_connect_args(timeouts: DbTimeouts) -> dict[str, Any]:
    return {
        "connect_timeout": timeouts.connect,
        "read_timeout": timeouts.read,
        "write_timeout": timeouts.write,
        "init_command": f"SET SESSION innodb_lock_wait_timeout = {int(timeouts.lock_wait)}",
    }


def database_unavailable(error: exc.DBAPIError) -> Unavailable | None:
    """`Unavailable` when the driver could not reach the server or lost it; else None."""
    code = error_code(error)
    if code in CONNECTION_ERRORS:
        return Unavailable("The database is not answering; try again shortly.", details={"dependency": "database"})
    if code in NODE_NOT_READY:
        return Unavailable("The database node is not ready; try again shortly.", details={"dependency": "database"})
    return None


def connection_unusable() -> Unavailable:
    """SQLAlchemy refused to use a connection whose transaction died with it (PendingRollbackError):
    the database was lost earlier in this unit of work."""
    return Unavailable("The database connection was lost; try again shortly.", details={"dependency": "database"})


def database_probe(engine: Engine, timeout: float) -> Callable[[], None]:
    """The readiness check: `SELECT 1` bounded by `timeout`. On MySQL/MariaDB it uses a connection
    of its own (no pool, timeouts of `timeout` seconds), so /ready answers within its own short
    bound however the serving pool is configured or stuck."""
    if engine.dialect.name not in ("mysql", "mariadb"):

        def check() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        return check
    probe = create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={"connect_timeout": timeout, "read_timeout": timeout, "write_timeout": timeout},
    )

    def check_mysql() -> None:
        with probe.connect() as connection:
            galera_ready(connection)

    return check_mysql


class NodeNotReady(Exception):
    """A Galera node that answers SQL but cannot serve the cluster's data."""


def galera_ready(connection: Any) -> None:
    """On a Galera node, ready means `wsrep_ready=ON` and `Synced`: a node that left the cluster (or
    never joined it) still answers `SELECT 1`, and answers 1047 to anything else; a joiner or a
    donor (Joining, Donor/Desynced) is behind or blocked. Elsewhere (plain MariaDB, MySQL), that
    the server answers is enough."""
    wsrep = connection.execute(text("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'")).first()
    if wsrep is None or str(wsrep[1]).upper() != "ON":
        return
    status = dict(
        connection.execute(
            text("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')")
        ).all()
    )
    if status.get("wsrep_ready") != "ON" or status.get("wsrep_local_state_comment") != "Synced":
        raise NodeNotReady(f"galera node not ready: {status}")
