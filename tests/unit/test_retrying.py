"""Storage contention (deadlock, lock-wait timeout, busy SQLite) retries the whole unit of work."""
from __future__ import annotations

from typing import Any

import pytest

from adapters.memory.uow import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from domain.shared.errors import NotFound, TransientError
from domain.shared.uow import retrying
from tests.helpers import T0
from tests.ledger_support import PRICES, NamespacedIds


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
