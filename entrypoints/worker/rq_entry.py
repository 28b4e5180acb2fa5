"""RQ's entry point: `execute(name, payload)`, the one function RQ calls (`bootstrap.JOB_FUNCTION`).

It runs jobs against a container built once per process (`prepare`). `houston worker` calls
`prepare` before it starts working, so the work horses RQ forks for each job inherit the built
container instead of bootstrapping again; the database pool is replaced in each child
(SQLAlchemy's `dispose(close=False)`), so no connection is ever shared across a fork.

A module of its own because it builds the container: it imports the composition root, which
imports the job registry (`entrypoints.worker.jobs`) — never the other way round.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from domain.shared.jobs import Job
from entrypoints.bootstrap import bootstrap
from entrypoints.config import Settings, load_settings
from entrypoints.container import Container
from entrypoints.worker.jobs import run_job


def execute(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """RQ's entry point: run job `name` against this process's container (logged with RQ's job id)."""
    from rq import get_current_job

    current = get_current_job()
    return run_job(prepare(), Job(name, dict(payload), job_id=current.id if current is not None else None))


_container: Container | None = None
_container_lock = threading.Lock()


def prepare(settings: Settings | None = None) -> Container:
    """This process's container, built on first use from `settings` (default: the environment)."""
    global _container
    with _container_lock:
        if _container is None:
            _container = bootstrap(settings or load_settings())
            _fresh_pool_after_fork(_container)
        return _container


def _fresh_pool_after_fork(container: Container) -> None:
    engine = container.resources.engine
    if engine is not None:
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
