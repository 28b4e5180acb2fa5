"""The Galera cluster for the tests: started by `.ci/run` (or by hand: `python -m tests.galera start`)
and named by TEST_GALERA_URLS (one URL per node, comma-separated). Under CI=true a missing or
broken cluster fails the tests; elsewhere they are skipped, with the reason.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from entrypoints.bootstrap import Container, bootstrap
from tests.galera.cluster import Cluster
from tests.helpers import make_settings

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
        engine = container.resources.get("engine")
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
