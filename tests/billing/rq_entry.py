"""The RQ entry point of tests/billing/test_handler_retry_rq.py: runs Houston's real job registry
against the container the test put here (the worker runs in the test's own process)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.shared.jobs import Job
from entrypoints.container import Container
from entrypoints.worker.jobs import run_job

ENTRY_POINT = "tests.billing.rq_entry.execute"
CONTAINER: Container | None = None


def execute(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    assert CONTAINER is not None, "the test sets CONTAINER before the worker runs"
    return run_job(CONTAINER, Job(name, dict(payload)))
