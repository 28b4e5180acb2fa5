"""A job run by RQ is logged with RQ's job id (issue 21: `job_id: null` for every RQ job)."""

from __future__ import annotations

import fakeredis
import pytest
from rq import Queue

from entrypoints.bootstrap import bootstrap
from entrypoints.worker import rq_entry
from tests.fixtures.rq import worker_uses
from tests.fixtures.settings import make_settings


def test_a_job_run_by_rq_logs_rqs_job_id(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    worker_uses(monkeypatch, bootstrap(make_settings()))
    queue = Queue("default", is_async=False, connection=fakeredis.FakeStrictRedis())

    with caplog.at_level("INFO", logger="entrypoints.worker.jobs"):
        job = queue.enqueue(rq_entry.execute, "ledger.release_expired_holds", {})

    [done] = [r for r in caplog.records if r.getMessage() == "job done"]
    assert done.job_id == job.id and done.job == "ledger.release_expired_holds"  # type: ignore[attr-defined]
