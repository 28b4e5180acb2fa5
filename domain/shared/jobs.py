"""The JobQueue port: named jobs with JSON-safe payloads, run now or later, with retries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing job is tried again, and how long to wait before each new try."""

    max_retries: int = 3
    intervals: tuple[int, ...] = (10, 60, 300)  # seconds; the last one repeats


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    run_at: datetime | None = None  # aware UTC; None means now
    job_id: str | None = None  # de-duplication: a second job with the same id is dropped
    retry: RetryPolicy | None = None


class JobQueue(Protocol):
    def enqueue(self, job: Job) -> None: ...
