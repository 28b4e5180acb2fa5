"""HTTP fixtures: the real app from `create_app(bootstrap(...))`, on memory storage and a ManualClock.

Reuse from any e2e module: ask for `client` (and `clock`, `container`, `queue` to act on or
inspect what is behind it). Override a fixture in a module to change one part, for example
`settings` for other prices or TTLs, or `queue` for an InlineJobQueue that runs jobs at once.
The `clock` fixture (ManualClock at tests.fixtures.settings.T0) comes from tests/conftest.py.
`sql_engine` (SQLite, MariaDB) and `any_app` (the app on memory, SQLite, MariaDB) are for HTTP tests
whose point is what the database does (collations, limits, stored bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.queue.recording import RecordingJobQueue
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.config import Settings
from entrypoints.http.app import create_app
from tests.fixtures.apps import sql_app
from tests.fixtures.backends import backend_params, storage_engine
from tests.fixtures.settings import make_settings


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def queue() -> Any:
    """Records the jobs the app enqueues after its commits and runs none of them."""
    return RecordingJobQueue()


@pytest.fixture
def make_app(settings: Settings, clock: ManualClock, queue: Any) -> Callable[..., Flask]:
    """Build another app; keyword arguments go to bootstrap() (storage is memory unless `uow` is given)."""

    def build(**overrides: Any) -> Flask:
        overrides.setdefault("clock", clock)
        overrides.setdefault("queue", queue)
        overrides.setdefault("uow", MemoryUnitOfWorkFactory(queue=overrides["queue"]))
        app = create_app(bootstrap(overrides.pop("settings", settings), **overrides))
        app.testing = True
        return app

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def container(app: Flask) -> Container:
    """The container behind `app`: its services, clock and storage."""
    return app.extensions["houston"]  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(params=backend_params("sqlite", "mariadb"))
def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An SQL engine: SQLite in tmp_path, MariaDB when TEST_MYSQL_URL is set."""
    return storage_engine(request.param, tmp_path, request)


@pytest.fixture(params=backend_params())
def any_app(request: pytest.FixtureRequest, tmp_path: Path) -> Flask:
    """The app on every storage backend (memory, SQLite, MariaDB when configured)."""
    return sql_app(storage_engine(request.param, tmp_path, request))
