"""Figures for the README's Galera section, on the cluster of `python -m tests.galera start`:

    TEST_GALERA_URLS=$(python -m tests.galera urls) python -m tests.galera.measure [--seconds 8]

1. one hot account charged by 6 threads, all on node 1, then spread over the three nodes
   (2 threads per node): charges per second, certification conflicts (`wsrep_local_cert_failures`
   and `wsrep_local_bf_aborts` summed over the nodes), and how many calls ran out of retries
   (DB_RETRY_ATTEMPTS 5, then 10);
2. the same with one account per thread (no hot spot), for comparison;
3. causal reads: a capture on node 2 right after the hold committed on node 1, with
   DB_SYNC_WAIT=0 and =1 (how many did not find the hold), and the charge rate on one node
   with and without it (its cost).
Ledger calls go straight to `Ledger` (no HTTP), each Houston instance with its own pool.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections import Counter
from typing import Any

from domain.ledger.errors import HoldNotFound
from domain.ledger.model import GrantSource
from domain.shared.errors import DomainError
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.settings import make_settings
from tests.galera.conftest import appliers_busy

URLS = [url for url in os.environ.get("TEST_GALERA_URLS", "").split(",") if url]


def _containers(**overrides: Any) -> list[Container]:
    return [bootstrap(make_settings(database_url=url, **overrides)) for url in URLS]


def _account(container: Container, credits: int = 10**6) -> str:
    account = "acc_" + uuid.uuid4().hex[:20]
    container.ledger.open_account(account)
    container.ledger.grant(account, source=GrantSource.PROMO, amount=credits, idempotency_key="seed")
    return account


def _conflicts(containers: list[Container]) -> int:
    from sqlalchemy import text

    total = 0
    for container in containers:
        with container.resources.engine.connect() as connection:
            rows = connection.execute(
                text("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_cert_failures', 'wsrep_local_bf_aborts')")
            ).all()
            total += sum(int(value) for _, value in rows)
    return total


def charge_rate(containers: list[Container], nodes: list[int], accounts: list[str], seconds: float) -> dict[str, Any]:
    """len(accounts) threads; thread i charges accounts[i] through containers[nodes[i]]."""
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    before = _conflicts(containers)

    def run(i: int) -> None:
        n = 0
        ledger = containers[nodes[i]].ledger
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                ledger.charge(accounts[i], feature_key="api.call", idempotency_key=f"m-{i}-{n}-{uuid.uuid4().hex[:6]}")
                outcome = "ok"
            except DomainError as error:
                outcome = error.code
            with lock:
                outcomes[outcome] += 1
                latencies.append(time.monotonic() - started)
            n += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(accounts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "per_second": round(outcomes["ok"] / seconds, 1),
        "outcomes": dict(outcomes),
        "conflicts": _conflicts(containers) - before,
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
    }


def stale_captures(containers: list[Container], tries: int) -> int:
    account = _account(containers[0])
    stale = 0
    for _ in range(tries):
        key = uuid.uuid4().hex[:8]
        hold = containers[0].ledger.hold(account, amount=1, idempotency_key=f"h-{key}").hold
        assert hold is not None
        try:
            containers[1].ledger.capture(account, hold.id, amount=1, idempotency_key=f"c-{key}")
        except HoldNotFound:
            stale += 1
    return stale


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--tries", type=int, default=300)
    args = parser.parse_args()
    assert len(URLS) == 3, "set TEST_GALERA_URLS (python -m tests.galera urls)"
    containers = _containers()
    t = args.threads
    hot = _account(containers[0])
    print("hot account, all on node 1:   ", charge_rate(containers, [0] * t, [hot] * t, args.seconds))
    print("hot account, over 3 nodes:    ", charge_rate(containers, [i % 3 for i in range(t)], [hot] * t, args.seconds))
    patient = _containers(db_retry_attempts=10)
    hot = _account(patient[0])
    print("hot account, 3 nodes, 10 tries:", charge_rate(patient, [i % 3 for i in range(t)], [hot] * t, args.seconds))
    own = [_account(containers[0]) for _ in range(t)]
    print("own accounts, all on node 1:  ", charge_rate(containers, [0] * t, own, args.seconds))
    print("own accounts, over 3 nodes:   ", charge_rate(containers, [i % 3 for i in range(t)], own, args.seconds))
    without = _containers(db_sync_wait=0)
    for name, group in (("sync_wait=0", without), ("sync_wait=1", containers)):
        idle = stale_captures(group, args.tries)
        with appliers_busy(URLS[0]):
            busy = stale_captures(group, args.tries)
        print(f"captures not finding the hold, {name}: {idle}/{args.tries} idle, {busy}/{args.tries} appliers busy")
    for name, group in (("sync_wait=0", without), ("sync_wait=1", containers)):
        account = _account(group[0])
        print(f"one node, own account, {name}:", charge_rate(group, [0], [account], args.seconds))


if __name__ == "__main__":
    main()
