"""What one hot statement costs the service's process, by the way it is sent (issue 25, direction 3).

`python -m bench.statements [--url ...] [--repeat N]` against MariaDB. For the two reads every
authenticated charge makes (the token's user with its refresh family, and the account lock with
its open grants), Python CPU per execution (time.process_time, one thread, one connection, inside
one transaction), each way interleaved in rounds so that all see the same machine:

- core:         Connection.execute(statement, params), SQLAlchemy's compiled cache on (what runs now);
- core-nocache: the same with the compiled cache off (what the cache saves);
- driver-sql:   compiled once, then Connection.exec_driver_sql(sql, params) (no compile, no cache lookup);
- dbapi:        compiled once, then the pymysql cursor itself (no Result, no Row: tuples);
- and for the user read, the same with only the columns authentication needs (id, role, plan).

CPU, not wall time: the round trip itself is the same for all. The bench database (default
houston_bench_statements; its name must contain "bench") is dropped and recreated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, exists, select

from adapters.sql.engine import make_engine
from adapters.sql.identity import _FOR_ACCESS as SLIM_FOR_ACCESS
from adapters.sql.ledger import LOCK_ACCOUNT
from adapters.sql.migrate import upgrade
from adapters.sql.tables import refresh_tokens, users
from bench.ledger import recreate_database

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/houston_bench_statements"
FULL_FOR_ACCESS = select(  # what authentication read before issue 25: every column of the user
    users,
    exists()
    .where(refresh_tokens.c.family_id == bindparam("family_id"), refresh_tokens.c.revoked_at.is_not(None))
    .label("family_revoked"),
).where(users.c.id == bindparam("user_id"))


def seed(engine: Any) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (id, email, password_hash, name, role, plan, created_at, updated_at) "
            "VALUES ('usr_bench', 'bench@example.com', %s, 'Bench', 'user', 'free', %s, %s)",
            ("x" * 60, now, now),
        )
        connection.exec_driver_sql(
            "INSERT INTO ledger_accounts (id, balance, held, last_seq, created_at) VALUES ('usr_bench', 10, 0, 1, %s)",
            (now,),
        )
        for i in range(2):
            connection.exec_driver_sql(
                "INSERT INTO ledger_grants (id, account_id, source, granted, remaining, expires_at, reference, "
                "created_at) VALUES (%s, 'usr_bench', 'purchase', 5, 5, NULL, NULL, %s)",
                (f"grt_bench{i}", now),
            )


def ways(connection: Any, statement: Any, params: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    dialect, given = connection.dialect, params
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)  # pyformat: %(name)s
    params = {**compiled.params, **params}  # the statement's own constants (remaining > 0) too
    raw = connection.connection.dbapi_connection
    uncached = connection.execution_options(compiled_cache=None)

    def dbapi() -> Any:
        cursor = raw.cursor()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.close()
        return rows

    return {
        "core": lambda: connection.execute(statement, given).all(),
        "core-nocache": lambda: uncached.execute(statement, given).all(),
        "driver-sql": lambda: connection.exec_driver_sql(sql, params).all(),
        "dbapi": dbapi,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--repeat", type=int, default=500, help="executions per way and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    recreate_database(args.url)
    upgrade(args.url)
    engine = make_engine(args.url)
    seed(engine)
    cases = {
        "user for access (all columns)": (FULL_FOR_ACCESS, {"user_id": "usr_bench", "family_id": "rtf_x"}),
        "user for access (id, role, plan)": (SLIM_FOR_ACCESS, {"user_id": "usr_bench", "family_id": "rtf_x"}),
        "account lock + open grants": (LOCK_ACCOUNT, {"account_id": "usr_bench"}),
    }
    with engine.connect() as connection:
        calls = {
            (case, way): call
            for case, (statement, params) in cases.items()
            for way, call in ways(connection, statement, params).items()
        }
        samples: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
        for call in calls.values():  # warm up: caches, the connection
            for _ in range(50):
                call()
        for _ in range(args.rounds):
            for key, call in calls.items():
                started = time.process_time()
                for _ in range(args.repeat):
                    call()
                samples[key].append((time.process_time() - started) * 1e6 / args.repeat)
        connection.rollback()
    engine.dispose()
    print(f"Python CPU per execution, microseconds: median of {args.rounds} rounds of {args.repeat} (min-max)")
    for case in cases:
        base = statistics.median(samples[(case, "core")])
        print(f"  {case}")
        for way in ("core", "core-nocache", "driver-sql", "dbapi"):
            values = samples[(case, way)]
            median = statistics.median(values)
            print(f"    {way:13s} {median:7.0f} ({min(values):.0f}-{max(values):.0f})   {median / base:4.2f}x core")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
