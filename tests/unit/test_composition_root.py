"""The composition root and what it builds (issue 26 §2)."""

from __future__ import annotations

import grimp
import pytest

from domain.ledger.errors import InsufficientCredits
from domain.ledger.services import Ledger
from entrypoints.bootstrap import bootstrap
from entrypoints.observability import NullMetrics, counted_ledger, ledger_verbs
from tests.fixtures.settings import make_settings


def test_the_job_registry_does_not_import_the_composition_root() -> None:
    """bootstrap imports the job registry (inline queue); RQ's entry point, which builds the
    container, lives in a module of its own, so no module under bootstrap imports it back."""
    graph = grimp.build_graph("entrypoints", "domain", "adapters")
    for module in ("entrypoints.worker.jobs", "entrypoints.container"):
        chain = graph.find_shortest_chain(importer=module, imported="entrypoints.bootstrap")
        assert chain is None, f"{module} imports the composition root: {' -> '.join(chain or ())}"


def test_jobs_queued_under_the_old_entry_point_name_still_run() -> None:
    from entrypoints.worker import jobs, rq_entry

    assert jobs.execute is rq_entry.execute  # RQ resolves "entrypoints.worker.jobs.execute" by getattr


class RecordingMetrics(NullMetrics):
    def __init__(self) -> None:
        self.ledger_calls: list[tuple[str, str]] = []

    def ledger_operation(self, operation: str, outcome: str) -> None:
        self.ledger_calls.append((operation, outcome))


def test_a_new_ledger_verb_is_counted_without_being_listed_anywhere() -> None:
    class GrownLedger(Ledger):
        def frobnicate(self) -> str:  # a verb nobody told the metrics about
            return "done"

        def refuse(self) -> None:
            raise InsufficientCredits(needed=2, available=1)

    metrics = RecordingMetrics()
    counted = counted_ledger(GrownLedger, metrics)
    ledger = counted.__new__(counted)  # the verbs above touch no state
    assert isinstance(ledger, GrownLedger)
    assert ledger.frobnicate() == "done"
    with pytest.raises(InsufficientCredits):
        ledger.refuse()
    assert metrics.ledger_calls == [("frobnicate", "ok"), ("refuse", "insufficient_credits")]


def test_every_ledger_verb_is_counted_and_no_query() -> None:
    verbs = set(ledger_verbs(Ledger))
    assert {"grant", "grant_monthly_allowance", "charge", "adjust", "reverse_grant", "hold", "capture", "void"} <= verbs
    assert {"expire_grants", "release_expired_holds", "add_pending_grant", "open_account"} <= verbs
    assert not verbs & {"balance", "transactions", "usage", "pending_grants", "check_invariants"}


def test_bootstrap_builds_the_counted_ledger_when_metrics_are_on() -> None:
    assert type(bootstrap(make_settings(metrics_enabled=True)).ledger).__name__ == "CountedLedger"
    assert type(bootstrap(make_settings(metrics_enabled=False)).ledger) is Ledger


def test_bootstrap_chooses_the_schedules_slot_claims() -> None:
    from adapters.queue.rq_queue import RedisSlotClaims
    from entrypoints.worker.schedule import LocalSlotClaims

    assert isinstance(bootstrap(make_settings()).slot_claims, LocalSlotClaims)
    on_redis = bootstrap(make_settings(redis_url="redis://127.0.0.1:1/0"))  # no connection is made here
    assert isinstance(on_redis.slot_claims, RedisSlotClaims)
    assert on_redis.resources.redis is not None
    assert on_redis.resources.worker_redis is not None  # houston worker's client, made here too
    assert bootstrap(make_settings()).resources.worker_redis is None
