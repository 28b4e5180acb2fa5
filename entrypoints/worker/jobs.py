"""The job functions: a registry `name -> fn(container, payload)` and `run_job`.

Jobs are thin: read the payload, call one use case, return a small JSON-safe summary (RQ keeps
it as the job's result). Every job is safe to run twice: the use cases are idempotent.

RQ's entry point (`execute`, `prepare`) lives in `entrypoints/worker/rq_entry.py`: it builds the
container, so it imports the composition root, which imports this module (for `run_job`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from domain.identity.model import FREE_PLAN
from domain.shared.errors import DomainError
from domain.shared.jobs import Job
from entrypoints.worker import billing_jobs, platform_jobs
from entrypoints.worker.platform24_jobs import PLATFORM24_JOBS

if TYPE_CHECKING:
    from entrypoints.container import Container

log = logging.getLogger(__name__)

JobFunction = Callable[["Container", Mapping[str, Any]], dict[str, Any]]
PAGE_SIZE = 500
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class UnknownJob(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown job {name!r}; known jobs: {', '.join(sorted(JOBS))}")
        self.name = name


class JobIncomplete(RuntimeError):
    """Some items of a batch job failed; the others are done. Running it again finishes the rest."""


# --- the jobs ---------------------------------------------------------------------------------
def expire_grants(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"expired": container.ledger.expire_grants()}


def release_expired_holds(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"released": container.ledger.release_expired_holds()}


def grant_free_plan_monthly_credits(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Grant every free-plan user the allowance of `period` (payload, YYYY-MM; default: this
    month). The ledger's idempotency key makes it once per user and period, so a rerun, a retry
    or a double tick grants nothing twice. One failing account does not stop the others."""
    period = _period(payload, container)
    users, failures = 0, 0
    for user_id in _user_ids_on_plan(container, FREE_PLAN):
        users += 1
        try:
            container.ledger.grant_monthly_allowance(user_id, period=period)
        except DomainError:
            failures += 1
            log.exception("monthly allowance failed", extra={"user_id": user_id, "period": period})
    if failures:
        raise JobIncomplete(f"{failures} of {users} free-plan allowances for {period} failed")
    return {"period": period, "users": users}


def run_coaching_task(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run one AI task (issue 14): the use case captures on success and releases on failure;
    a task that is not queued any more (cancelled, a duplicate delivery) is left alone."""
    status = container.coaching.run_task(str(payload["task_id"]))
    return {"task_id": payload["task_id"], "status": status.value if status else None}


def coaching_sweep(container: Container, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Fail tasks stuck past their timeout (releasing their holds); capture stored answers and
    results whose capture a crash interrupted."""
    result = container.coaching.sweep()
    return {"failed": result.failed, "settled_tasks": result.settled_tasks, "settled_messages": result.settled_messages}


JOBS: Mapping[str, JobFunction] = {
    "ledger.expire_grants": expire_grants,
    "ledger.release_expired_holds": release_expired_holds,
    "ledger.grant_free_plan_monthly_credits": grant_free_plan_monthly_credits,
    "billing.handle_event": billing_jobs.handle_event,
    "billing.reconcile": billing_jobs.reconcile,
    "coaching.run_task": run_coaching_task,
    "coaching.sweep": coaching_sweep,
    **platform_jobs.JOBS,  # issue 22: outbox relay, event fan-out, webhooks, emails
    **PLATFORM24_JOBS,  # issue 24
}


def _period(payload: Mapping[str, Any], container: Container) -> str:
    period = payload.get("period") or container.clock.now().strftime("%Y-%m")
    if not isinstance(period, str) or not _PERIOD.fullmatch(period):
        raise ValueError(f"period must look like YYYY-MM, got {period!r}")
    return period


def _user_ids_on_plan(container: Container, plan: str) -> Iterator[str]:
    after: str | None = None
    while True:
        page = container.identity.user_ids_on_plan(plan, after=after, limit=PAGE_SIZE)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        after = page[-1]


# --- running them -----------------------------------------------------------------------------
def run_job(container: Container, job: Job) -> dict[str, Any]:
    """Run `job` now, in this process (the inline queue, `houston run-job`, RQ through `execute`)."""
    function = JOBS.get(job.name)
    if function is None:
        raise UnknownJob(job.name)
    try:
        summary = function(container, job.payload)
    except Exception:
        container.metrics.job(job.name, "failed")
        raise
    container.metrics.job(job.name, "succeeded")
    log.info("job done", extra={"job": job.name, "job_id": job.job_id, "summary": summary})
    return summary


def __getattr__(name: str) -> Any:
    """Jobs enqueued before RQ's entry point moved to `rq_entry` name `entrypoints.worker.jobs.execute`;
    resolved at run time only, so this module imports nothing of the composition root."""
    if name == "execute":
        import importlib

        return importlib.import_module("entrypoints.worker.rq_entry").execute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
