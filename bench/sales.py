"""The sales figures at a million ledger entries (issue 24): `python -m bench.sales [--url URL]`.

Loads 1,000,000 charge entries (each with its allocation) over 90 UTC days for 10,000 accounts,
with their grants, users and payments, into a fresh database (default: a SQLite file under var/;
`--url mysql+pymysql://root@127.0.0.1:3306/houston_i24_bench` for MariaDB: the database named must
contain "bench" and is dropped and recreated). Then it times:
1. one closed day's rollup (what the nightly job does: ~11,000 entries);
2. the first report over the 90 days, which rolls up every day it finds missing (a backfill);
3. the same report again, reading the rollup (the normal case), by day, week and month.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.tables import (
    billing_payments,
    ledger_accounts,
    ledger_grants,
    users,
)
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.platform.sales import SalesFigures
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import load_catalogue
from entrypoints.config import Settings

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS, ACCOUNTS, ENTRIES, CHUNK = 90, 10_000, 1_000_000, 50_000


def _fresh(url: str | None) -> str:
    if url is None:
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'sales_bench.db'}"
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    assert parsed.database and "bench" in parsed.database, "the bench database's name must contain 'bench'"
    server = make_engine(parsed.set(database="").render_as_string(hide_password=False))
    with server.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
        connection.execute(text(f"CREATE DATABASE `{parsed.database}` CHARACTER SET utf8mb4"))
    server.dispose()
    return url


def load(engine: Any) -> None:
    rng = random.Random(24)
    with engine.begin() as connection:
        connection.execute(
            insert(users),
            [
                {
                    "id": f"usr_{a:06d}",
                    "email": f"u{a}@example.com",
                    "password_hash": "x",
                    "name": None,
                    "role": "user",
                    "plan": "free",
                    "created_at": START + timedelta(days=a % DAYS),
                    "updated_at": START,
                }
                for a in range(ACCOUNTS)
            ],
        )
        connection.execute(
            insert(ledger_accounts),
            [
                {"id": f"usr_{a:06d}", "balance": 0, "held": 0, "last_seq": 0, "created_at": START}
                for a in range(ACCOUNTS)
            ],
        )
        connection.execute(
            insert(ledger_grants),
            [
                {
                    "id": f"grt_{a:06d}_{k}",
                    "account_id": f"usr_{a:06d}",
                    "source": "purchase" if k else "plan",
                    "granted": 10**6,
                    "remaining": 10**6 // 2,
                    "expires_at": None,
                    "reference": f"payment:pay_{a:06d}" if k else "free-plan:2026-01",
                    "created_at": START + timedelta(days=a % DAYS),
                }
                for a in range(ACCOUNTS)
                for k in (0, 1)
            ],
        )
        connection.execute(
            insert(billing_payments),
            [
                {
                    "id": f"pay_{a:06d}",
                    "user_id": f"usr_{a:06d}",
                    "kind": "pack",
                    "item_id": "pack_500",
                    "item_name": "500 credits",
                    "credits": 500,
                    "amount_cents": 2000,
                    "currency": "usd",
                    "status": "paid",
                    "customer_email": "",
                    "paid_at": START + timedelta(days=a % DAYS),
                    "refunded_cents": 0,
                    "reversal_target": 0,
                    "credits_reversed": 0,
                    "shortfall": 0,
                    "created_at": START + timedelta(days=a % DAYS),
                    "updated_at": START,
                }
                for a in range(ACCOUNTS)
            ],
        )
    seq = [0] * ACCOUNTS
    raw = engine.raw_connection()  # the driver's executemany: the loading is not what is measured
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":  # SQLite's 2 MB page cache thrashes on five indexes
            cursor.execute("PRAGMA cache_size = -1000000")  # 1 GB, this loading connection only
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        insert_entry = (
            f"INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, feature_key, "
            f"idempotency_key, created_at) VALUES ({', '.join([mark] * 9)})"
        )
        insert_allocation = (
            f"INSERT INTO ledger_allocations (entry_id, grant_id, amount) VALUES ({mark}, {mark}, {mark})"
        )
        # Entry ids follow time, as the service's ids do (domain/shared/ids.py: a millisecond
        # prefix), so a day's entries sit together in the primary key, as they do in production.
        seconds = sorted(rng.randrange(DAYS * 86400) for _ in range(ENTRIES))
        for chunk in range(0, ENTRIES, CHUNK):
            entries, allocations = [], []
            for n in range(chunk, min(chunk + CHUNK, ENTRIES)):
                a = rng.randrange(ACCOUNTS)
                seq[a] += 1
                at = (START + timedelta(seconds=seconds[n])).strftime("%Y-%m-%d %H:%M:%S.%f")
                entry_id = f"txn_{n:08d}"
                entries.append((entry_id, f"usr_{a:06d}", seq[a], "charge", -3, 0, "api.call", entry_id, at))
                allocations.append((entry_id, f"grt_{a:06d}_{n % 2}", 3))
            cursor.executemany(insert_entry, entries)
            cursor.executemany(insert_allocation, allocations)
            raw.commit()
    finally:
        raw.close()


def timed(label: str, call: Any) -> Any:
    started = time.perf_counter()
    result = call()
    print(f"{label:<58} {1000 * (time.perf_counter() - started):9.1f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None)
    parser.add_argument("--entries", type=int, default=1_000_000, help="ledger entries to load")
    args = parser.parse_args()
    global ENTRIES
    ENTRIES = args.entries
    url = _fresh(args.url)
    upgrade(url)
    engine = make_engine(url)
    timed(f"load {ENTRIES:,} entries over {DAYS} days ({engine.dialect.name})", lambda: load(engine))
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("ANALYZE"))
    clock = ManualClock(START + timedelta(days=DAYS, hours=12))
    sales = SalesFigures(uow=SqlUnitOfWorkFactory(engine), clock=clock, catalogue=load_catalogue(Settings()))
    first, end = START.date(), START.date() + timedelta(days=DAYS)
    timed("roll up one closed day (the nightly job)", lambda: sales.rollup(first + timedelta(days=1)))
    timed(
        f"first report, {DAYS} days by day (rolls up {DAYS - 1} missing days)", lambda: sales.report(first, end, "day")
    )
    for interval in ("day", "week", "month"):
        report = timed(
            f"report over {DAYS} days by {interval} (from the rollup)", lambda i=interval: sales.report(first, end, i)
        )
    totals = report.totals
    print(
        f"check: consumed {totals['credits_consumed_paid'] + totals['credits_consumed_free']:,} credits "
        f"(expected {3 * ENTRIES:,}), liability {totals['paid_credit_liability']:,}"
    )
    assert totals["credits_consumed_paid"] + totals["credits_consumed_free"] == 3 * ENTRIES
    engine.dispose()


if __name__ == "__main__":
    main()
