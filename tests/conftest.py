"""Settings, Hypothesis profiles, markers and the container builders shared by every test level.

Storage backends: `memory` and `sqlite` always run; `mariadb` runs when TEST_MYSQL_URL is set
(CI sets it, and fails rather than skips when it is missing). Redis tests need TEST_REDIS_URL.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings as hsettings

from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container, bootstrap
from tests.helpers import T0, make_settings

hsettings.register_profile(
    "dev", max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hsettings.register_profile(
    "ci", max_examples=200, stateful_step_count=30, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
hsettings.register_profile(
    "thorough", max_examples=2000, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hsettings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

MYSQL_URL = os.environ.get("TEST_MYSQL_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
IN_CI = bool(os.environ.get("CI"))
BACKENDS = ["memory", "sqlite", "mariadb"]


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not (MYSQL_URL and REDIS_URL):
        raise pytest.UsageError("CI needs TEST_MYSQL_URL and TEST_REDIS_URL: integration tests must run, not skip")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    missing = [name for name, value in (("TEST_MYSQL_URL", MYSQL_URL), ("TEST_REDIS_URL", REDIS_URL)) if not value]
    if missing:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"  {' and '.join(missing)} unset: the MariaDB/Redis integration tests were SKIPPED.", red=True
        )
        terminalreporter.write_line("  CI runs them; so can you: see README, 'Running the tests'.", red=True)
        terminalreporter.write_line(bar, red=True, bold=True)


@pytest.fixture(scope="session")
def mysql_engine() -> Iterator[Any]:
    if not MYSQL_URL:
        pytest.skip("TEST_MYSQL_URL is not set")
    from adapters.sql.engine import make_engine
    from adapters.sql.migrate import upgrade

    upgrade(MYSQL_URL)
    engine = make_engine(MYSQL_URL, pool_size=20, max_overflow=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    return REDIS_URL


def sqlite_engine(path: Path) -> Any:
    from adapters.sql.engine import make_engine
    from adapters.sql.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    return make_engine(url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


ContainerBuilder = Callable[..., Container]


@pytest.fixture(params=[pytest.param(b, marks=pytest.mark.mysql) if b == "mariadb" else b for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_container(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> ContainerBuilder:
    """Build a container on the parametrised backend; keyword arguments go to bootstrap()."""
    return container_builder(backend, tmp_path, request)


def container_builder(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> ContainerBuilder:
    from adapters.memory.uow import MemoryUnitOfWorkFactory
    from adapters.queue.inline import InlineJobQueue
    from adapters.sql.uow import SqlUnitOfWorkFactory

    engine = storage_engine(backend, tmp_path, request)

    def build(**overrides: Any) -> Container:
        settings = overrides.pop("settings", None) or make_settings()
        queue = overrides.pop("queue", None) or InlineJobQueue(raise_errors=True)
        uow = MemoryUnitOfWorkFactory(queue=queue) if engine is None else SqlUnitOfWorkFactory(engine, queue)
        container = bootstrap(settings, uow=uow, queue=queue, **overrides)
        if isinstance(queue, InlineJobQueue) and not queue.bound:
            from entrypoints.worker.jobs import run_job

            queue.bind(lambda job: run_job(container, job))
        return container

    return build


# --- one way to choose a backend at every test level (issue 11) ------------------------------
# `backend` (memory, sqlite, mariadb) parametrises; `storage_engine` turns it into an engine;
# `make_container` (whole services) and `backend_uow` (a bare unit-of-work factory, for the
# repository contracts) build on it. Hypothesis state machines, which cannot take fixtures,
# call `storage_engine`'s helpers (`sqlite_engine`, the session's MariaDB URL) directly.
def storage_engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """The SQL engine for `backend`, or None for memory: SQLite in tmp_path (disposed after the
    test), MariaDB the session's migrated engine (skipped without TEST_MYSQL_URL)."""
    if backend == "sqlite":
        engine = sqlite_engine(tmp_path / "test.db")
        request.addfinalizer(engine.dispose)
        return engine
    if backend == "mariadb":
        return request.getfixturevalue("mysql_engine")
    if backend != "memory":
        raise ValueError(f"unknown backend {backend!r}")
    return None


@pytest.fixture
def backend_uow(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Any]:
    """A unit-of-work factory on the parametrised backend, with no job queue."""
    from adapters.memory.uow import MemoryUnitOfWorkFactory
    from adapters.sql.uow import SqlUnitOfWorkFactory

    engine = storage_engine(backend, tmp_path, request)
    return MemoryUnitOfWorkFactory() if engine is None else SqlUnitOfWorkFactory(engine)
