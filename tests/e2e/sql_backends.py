"""The real app on SQLite and on MariaDB (when TEST_MYSQL_URL is set): for HTTP tests whose point
is what the database does (collations, limits, stored bytes), which memory storage cannot show."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from adapters.queue.recording import RecordingJobQueue
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from tests.conftest import sqlite_engine
from tests.helpers import T0, make_settings


def sql_app(engine: Any, **settings: Any) -> Flask:
    queue = RecordingJobQueue()
    container = bootstrap(
        make_settings(**settings), clock=ManualClock(T0), queue=queue, uow=SqlUnitOfWorkFactory(engine, queue)
    )
    app = create_app(container)
    app.testing = True
    return app


@pytest.fixture(params=["sqlite", "mariadb"])
def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "app.db")
        request.addfinalizer(engine.dispose)
        return engine
    return request.getfixturevalue("mysql_engine")


@pytest.fixture(params=["memory", "sqlite", "mariadb"])
def any_app(request: pytest.FixtureRequest, tmp_path: Path) -> Flask:
    """The app on every storage backend (memory, SQLite, MariaDB when configured)."""
    if request.param == "memory":
        from adapters.memory.uow import MemoryUnitOfWorkFactory

        queue = RecordingJobQueue()
        app = create_app(bootstrap(make_settings(), clock=ManualClock(T0), queue=queue,
                                   uow=MemoryUnitOfWorkFactory(queue=queue)))
        app.testing = True
        return app
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "app.db")
        request.addfinalizer(engine.dispose)
        return sql_app(engine)
    return sql_app(request.getfixturevalue("mysql_engine"))
