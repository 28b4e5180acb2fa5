"""The Galera cluster for the tests: started by `.ci/run` (or by hand: `python -m tests.galera start`)
and named by TEST_GALERA_URLS (one URL per node, comma-separated). Under CI=true a missing or
broken cluster fails the tests; elsewhere they are skipped, with the reason.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.settings import make_settings
from tests.galera.cluster import Cluster

GALERA_URLS = [url for url in os.environ.get("TEST_GALERA_URLS", "").split(",") if url]
IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def galera_urls() -> list[str]:
    if len(GALERA_URLS) != 3:
        message = "TEST_GALERA_URLS is not set to three node URLs (start one: python -m tests.galera start)"
        if IN_CI:
            pytest.fail(f"CI must run the Galera tests: {message}")
        pytest.skip(message)
    return GALERA_URLS


@pytest.fixture(scope="session")
def cluster(galera_urls: list[str]) -> Cluster:
    """The cluster's processes, to kill and restart a node (same folder and ports as the script)."""
    root = os.environ.get("TEST_GALERA_DIR")
    port_base = int(os.environ.get("GALERA_PORT_BASE", "30000"))
    found = Cluster(Path(root) if root else None, port_base)
    for index in (1, 2, 3):
        if not found.status(index).get("wsrep_ready") == "ON":
            pytest.fail(f"Galera node {index} is not ready: {found.status(index)}")
    return found


@pytest.fixture(scope="session")
def migrated(galera_urls: list[str]) -> list[str]:
    from adapters.sql.migrate import upgrade

    upgrade(galera_urls[0])
    return galera_urls


NodeContainers = Callable[..., list[Container]]


@pytest.fixture
def nodes(migrated: list[str]) -> Iterator[NodeContainers]:
    """Three Houston instances, one per node, built as production builds them (bootstrap from a
    DATABASE_URL: pool, timeouts, causal reads)."""
    built: list[Container] = []

    def build(**overrides: Any) -> list[Container]:
        containers = [bootstrap(make_settings(database_url=url, **overrides)) for url in migrated]
        built.extend(containers)
        return containers

    yield build
    for container in built:
        engine = container.resources.engine
        if engine is not None:
            engine.dispose()


def scalar(url: str, sql: str, **params: Any) -> Any:
    from adapters.sql.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET SESSION wsrep_sync_wait = 1"))
            return connection.execute(text(sql), params).all()
    finally:
        engine.dispose()


@contextmanager
def appliers_busy(url: str) -> Iterator[None]:
    """Big write sets committed on one node, again and again, so the other nodes' appliers run
    behind by a few milliseconds, as under real load (on an idle loopback cluster they never do)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE IF NOT EXISTS galera_churn (id BIGINT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000))")
        )
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            try:
                with engine.begin() as connection:
                    connection.execute(
                        text("INSERT INTO galera_churn (pad) SELECT REPEAT('x', 1000) FROM seq_1_to_3000")
                    )
                with engine.begin() as connection:
                    connection.execute(text("DELETE FROM galera_churn LIMIT 3000"))
            except Exception:  # noqa: BLE001 - a conflict here only means less churn
                time.sleep(0.01)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()
