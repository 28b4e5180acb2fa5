"""Storage contention (deadlock, lock-wait timeout, busy SQLite) retries the whole unit of work."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory.uow import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from domain.shared.errors import NotFound, OutcomeUnknown, TransientError, Unavailable
from domain.shared.uow import SETTLE_BUDGET, UnitOfWorkBase, learn_outcome, retrying, retrying_unavailable, transaction
from tests.fixtures.ledger import PRICES, NamespacedIds
from tests.fixtures.settings import T0


def test_a_transient_error_is_retried_until_the_work_succeeds() -> None:
    calls, waits = [], []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("deadlock")
        return "done"

    assert retrying(work, attempts=5, sleep=waits.append) == "done"
    assert len(calls) == 3 and len(waits) == 2 and all(wait > 0 for wait in waits)


def test_retries_stop_after_the_last_attempt_and_the_error_surfaces() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise TransientError("lock wait timeout")

    with pytest.raises(TransientError):
        retrying(work, attempts=4, sleep=lambda _: None)
    assert len(calls) == 4


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        retrying(work, sleep=lambda _: None)
    assert calls == [1]


class DeadlockOnceFactory(MemoryUnitOfWorkFactory):
    """A memory database whose first commit after `arm()` fails like a MariaDB deadlock (1213)."""

    armed = False

    def __call__(self) -> MemoryUnitOfWork:
        uow = super().__call__()
        factory = self
        original = uow._commit

        def commit() -> None:
            if factory.armed:
                factory.armed = False
                raise TransientError("Deadlock found when trying to get lock")
            original()

        uow._commit = commit  # type: ignore[method-assign]
        return uow


def test_a_charge_hit_by_a_deadlock_is_retried_and_applied_exactly_once() -> None:
    uow: Any = DeadlockOnceFactory()
    ledger = Ledger(uow=uow, clock=ManualClock(T0), ids=NamespacedIds("r"), prices=PRICES)
    ledger.open_account("acc")
    ledger.grant("acc", source="promo", amount=10, idempotency_key="g")
    uow.armed = True
    result = ledger.charge("acc", feature_key="api.call", idempotency_key="c")
    assert result.balance.balance == 7
    assert [e.amount for e in ledger.transactions("acc").items] == [-3, 10]
    assert ledger.check_invariants("acc") == []


class _Clock:
    """A monotonic clock that the lookups and sleeps advance."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _failing_lookup(clock: _Clock, took: float, tries: list[float]) -> Any:
    def lookup() -> str:
        tries.append(clock.now)
        clock.now += took
        raise Unavailable("no answer")

    return lookup


def test_a_lost_commit_on_a_frozen_database_gets_one_lookup_so_the_answer_costs_two_read_timeouts() -> None:
    # Each lookup waits a whole (1 s) read timeout: a second one would end past the budget.
    clock, tries = _Clock(), []
    unknown = OutcomeUnknown("lost")
    with pytest.raises(OutcomeUnknown) as raised:
        learn_outcome(_failing_lookup(clock, 1.0, tries), unknown, sleep=clock.sleep, monotonic=clock)
    assert raised.value is unknown and tries == [0.0]


def test_a_database_that_refuses_at_once_gets_three_quick_lookups() -> None:
    clock, tries = _Clock(), []
    with pytest.raises(OutcomeUnknown):
        learn_outcome(_failing_lookup(clock, 0.01, tries), OutcomeUnknown("lost"), sleep=clock.sleep, monotonic=clock)
    assert len(tries) == 3 and clock.now <= SETTLE_BUDGET


def test_the_first_lookup_that_answers_settles_it() -> None:
    clock, answers = _Clock(), iter([Unavailable("blip"), "committed"])

    def lookup() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert learn_outcome(lookup, OutcomeUnknown("lost"), sleep=clock.sleep, monotonic=clock) == "committed"


# --- transaction(): the one open-run-commit helper every area uses (issue 26 §3) ----------------
class RecordingUnit(UnitOfWorkBase):
    """A unit of work that writes down what happens to it; its commit fails with the next of
    `failures` (like a deadlock or a lost connection at COMMIT)."""

    def __init__(self, log: list[str], failures: list[Exception]) -> None:
        super().__init__()
        self.log, self._failures = log, failures

    def _begin(self) -> None:
        self.log.append("begin")

    def _commit(self) -> None:
        if self._failures:
            self.log.append("commit refused")
            raise self._failures.pop(0)
        self.log.append("commit")

    def _rollback(self) -> None:
        self.log.append("rollback")


def _units(*failures: Exception) -> tuple[list[str], Any]:
    log: list[str] = []
    pending = list(failures)
    return log, lambda: RecordingUnit(log, pending)


def test_a_transaction_runs_the_work_in_one_unit_and_commits_it_once() -> None:
    log, units = _units()
    assert transaction(units, lambda unit: "done") == "done"
    assert log == ["begin", "commit"]


def test_contention_at_commit_runs_the_whole_transaction_again_in_a_new_unit() -> None:
    log, units = _units(TransientError("Deadlock found when trying to get lock"))
    runs: list[RecordingUnit] = []
    assert transaction(units, runs.append, sleep=lambda _: None) is None
    assert log == ["begin", "commit refused", "rollback", "begin", "commit"]
    assert len(runs) == 2 and runs[0] is not runs[1]


@pytest.mark.parametrize(
    "error",
    [Unavailable("no database"), OutcomeUnknown("lost COMMIT"), NotFound("gone")],
    ids=lambda e: type(e).__name__,
)
def test_a_transaction_is_not_retried_when_the_database_is_gone_the_outcome_unknown_or_the_work_refuses(
    error: Exception,
) -> None:
    log, units = _units(error)
    with pytest.raises(type(error)):
        transaction(units, lambda unit: None, sleep=lambda _: None)
    assert log.count("begin") == 1


def test_an_error_in_the_work_rolls_the_unit_back_without_committing() -> None:
    log, units = _units()

    def work(unit: RecordingUnit) -> None:
        raise NotFound("no such thing")

    with pytest.raises(NotFound):
        transaction(units, work)
    assert log == ["begin", "rollback"]


def test_work_may_commit_what_must_stand_before_it_raises() -> None:
    # a reused refresh token: the family's revocation is committed, then the call fails
    log, units = _units()

    def work(unit: RecordingUnit) -> None:
        unit.commit()
        raise NotFound("revoked")

    with pytest.raises(NotFound):
        transaction(units, work)
    assert log == ["begin", "commit"]


def test_retries_stop_after_the_given_attempts() -> None:
    log, units = _units(*[TransientError("lock wait timeout")] * 3)
    with pytest.raises(TransientError):
        transaction(units, lambda unit: None, attempts=2, sleep=lambda _: None)
    assert log.count("begin") == 2


def _failing(*errors: Exception) -> tuple[list[int], Any]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    return calls, call


def test_an_unavailable_store_is_retried_after_each_pause_and_a_lost_commit_too_by_default() -> None:
    calls, call = _failing(Unavailable("gone"), OutcomeUnknown("lost"))
    pauses: list[float] = []
    assert retrying_unavailable(call, backoff=(0.2, 0.5), sleep=pauses.append) == "done"
    assert (len(calls), pauses) == (3, [0.2, 0.5])


def test_without_unknown_too_a_lost_commit_goes_up_at_once_and_is_never_run_twice() -> None:
    calls, call = _failing(TransientError("deadlock"), OutcomeUnknown("lost"))
    pauses: list[float] = []
    with pytest.raises(OutcomeUnknown):
        retrying_unavailable(call, backoff=(0.2, 0.5), unknown_too=False, sleep=pauses.append)
    assert (len(calls), pauses) == (2, [0.2])
