"""Job functions for tests/integration/test_rq_worker.py, importable by any RQ worker process and
kept out of the production registry. They record their attempts in the worker's Redis.

Enqueue them through `RqJobQueue(redis, job_function="tests.integration.rq_jobs.execute")`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from redis import Redis
from rq import get_current_job

ENTRY_POINT = "tests.integration.rq_jobs.execute"


def _redis() -> Redis:
    job = get_current_job()
    assert job is not None, "only runs inside an RQ job"
    return job.connection


def record(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Append the time it ran to the list `payload["key"]`."""
    ran_at = time.time()
    _redis().rpush(payload["key"], ran_at)
    return {"ran_at": ran_at}


def flaky(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Fail the first `payload["failures"]` attempts, counted in `payload["key"]`."""
    attempt = int(_redis().incr(payload["key"]))
    if attempt <= int(payload["failures"]):
        raise RuntimeError(f"attempt {attempt} failed on purpose")
    return {"attempts": attempt}


def broken_while_flagged(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Fail while the Redis key `payload["flag"]` exists; count attempts in `payload["key"]`."""
    redis = _redis()
    redis.incr(payload["key"])
    if redis.exists(payload["flag"]):
        raise ValueError(f"the flag {payload['flag']} is set")
    return {"fixed": True}


TEST_JOBS: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "test.record": record,
    "test.flaky": flaky,
    "test.broken_while_flagged": broken_while_flagged,
}


def execute(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return TEST_JOBS[name](payload)
