"""A connection lost during COMMIT leaves the outcome unknown (issue 20). The ledger's `once()`
finds out by the idempotency key before it answers, for every verb: the committed result is
replayed, or the call runs again when nothing was committed; money moves exactly once, and a
caller never hears "unavailable, nothing happened" about work that was done.

The storage here is the memory adapter with commits that end the way a lost connection does
(`OutcomeUnknown` from the SQL unit of work), before or after the data is in. The same shapes on
a real MariaDB, through a proxy that drops the connection around COMMIT, are in
tests/integration/test_commit_outcome_mariadb.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.memory.store import MemoryStore
from adapters.memory.uow import MemoryUnitOfWork
from domain.ledger.model import GrantSource
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from domain.shared.errors import OutcomeUnknown, Unavailable
from tests.fixtures.ledger import PRICES, NamespacedIds
from tests.fixtures.settings import T0

ACC = "acc_lost"


@dataclass
class Trouble:
    lose_commits: int = 0  # the next N commits end like a lost connection
    committed: bool = True  # ... after the data is in (True) or before (False)
    refuse_after_loss: int = 0  # after a lost commit, the next N units of work cannot reach storage
    refuse_begins: int = 0
    lookups: int = 0  # idempotency lookups made
    begins: int = 0


class TroubledUnitOfWork(MemoryUnitOfWork):
    def __init__(self, store: MemoryStore, trouble: Trouble) -> None:
        super().__init__(store)
        self.trouble = trouble
        original = self.ledger.get_idempotency

        def counted(account_id: str, key: str) -> Any:
            trouble.lookups += 1
            return original(account_id, key)

        self.ledger.get_idempotency = counted  # type: ignore[method-assign]

    def _begin(self) -> None:
        self.trouble.begins += 1
        if self.trouble.refuse_begins:
            self.trouble.refuse_begins -= 1
            raise Unavailable("The database is not answering.")
        super()._begin()

    def _commit(self) -> None:
        if self.trouble.lose_commits:
            self.trouble.lose_commits -= 1
            self.trouble.refuse_begins = self.trouble.refuse_after_loss
            if self.trouble.committed:
                super()._commit()
            raise OutcomeUnknown("The connection was lost during COMMIT.")
        super()._commit()


@pytest.fixture
def trouble() -> Trouble:
    return Trouble()


@pytest.fixture
def ledger(trouble: Trouble) -> Ledger:
    store = MemoryStore()
    ledger = Ledger(
        uow=lambda: TroubledUnitOfWork(store, trouble), clock=ManualClock(T0), ids=NamespacedIds("lost"), prices=PRICES
    )
    ledger.open_account(ACC)
    ledger.grant(ACC, source=GrantSource.PROMO, amount=100, idempotency_key="seed")
    return ledger


def _verbs(ledger: Ledger) -> dict[str, tuple[Callable[[], Any], int, int]]:
    """verb -> (the call, balance after it, held after it), each on a fresh hold where it needs one."""
    hold = ledger.hold(ACC, amount=10, idempotency_key="h-setup").hold
    assert hold is not None
    return {
        "charge": (lambda: ledger.charge(ACC, feature_key="api.call", idempotency_key="k"), 97, 10),
        "hold": (lambda: ledger.hold(ACC, amount=5, idempotency_key="k"), 100, 15),
        "capture": (lambda: ledger.capture(ACC, hold.id, amount=4, idempotency_key="k"), 96, 0),
        "void": (lambda: ledger.void(ACC, hold.id, idempotency_key="k"), 100, 0),
        "grant": (lambda: ledger.grant(ACC, source=GrantSource.ADMIN, amount=7, idempotency_key="k"), 107, 10),
    }


VERBS = ["charge", "hold", "capture", "void", "grant"]


@pytest.mark.parametrize("verb", VERBS)
def test_a_commit_lost_after_it_took_effect_answers_the_committed_result(
    ledger: Ledger, trouble: Trouble, verb: str
) -> None:
    call, balance, held = _verbs(ledger)[verb]
    trouble.lose_commits, trouble.committed = 1, True
    first = call()  # before issue 20: OutcomeUnknown (the SQL adapter said 503 "nothing was charged")
    assert trouble.lookups >= 1
    assert (first.balance.balance, first.balance.held) == (balance, held)
    assert call() == first  # the replay by key agrees: it was done once
    assert ledger.balance(ACC).balance == balance


@pytest.mark.parametrize("verb", VERBS)
def test_a_commit_lost_before_it_took_effect_runs_the_call_once(ledger: Ledger, trouble: Trouble, verb: str) -> None:
    call, balance, held = _verbs(ledger)[verb]
    trouble.lose_commits, trouble.committed = 1, False
    first = call()
    assert (first.balance.balance, first.balance.held) == (balance, held)
    assert call() == first
    assert ledger.balance(ACC).balance == balance


def test_a_lookup_that_reaches_storage_on_a_later_try_settles_the_outcome(ledger: Ledger, trouble: Trouble) -> None:
    trouble.lose_commits, trouble.committed, trouble.refuse_after_loss = 1, True, 2
    first = ledger.charge(ACC, feature_key="api.call", idempotency_key="k")
    assert first.balance.balance == 97 and ledger.balance(ACC).balance == 97


def test_when_storage_stays_away_the_answer_is_outcome_unknown_never_unavailable(
    ledger: Ledger, trouble: Trouble
) -> None:
    trouble.lose_commits, trouble.committed, trouble.refuse_after_loss = 1, True, 100
    with pytest.raises(OutcomeUnknown) as raised:
        ledger.charge(ACC, feature_key="api.call", idempotency_key="k")
    assert not isinstance(raised.value, Unavailable)
    trouble.refuse_begins = 0
    assert ledger.charge(ACC, feature_key="api.call", idempotency_key="k").balance.balance == 97  # same key: once


def test_storage_failing_inside_the_work_is_raised_without_a_read_on_the_dead_connection(
    ledger: Ledger, trouble: Trouble
) -> None:
    """Before issue 20, `Unavailable` inside `once()` was caught as a domain error and followed by an
    idempotency lookup on the connection that had just died (PendingRollbackError, a 500)."""
    hold = ledger.hold(ACC, amount=10, idempotency_key="h").hold
    assert hold is not None
    original = TroubledUnitOfWork.__init__

    def dying(self: TroubledUnitOfWork, store: MemoryStore, t: Trouble) -> None:
        original(self, store, t)

        def gone(_account_id: str) -> Any:
            raise Unavailable("The database is not answering.")

        self.ledger.active_holds = gone  # type: ignore[method-assign]  # the capture's first read of its hold

    TroubledUnitOfWork.__init__ = dying  # type: ignore[method-assign]
    try:
        lookups = trouble.lookups
        with pytest.raises(Unavailable):
            ledger.capture(ACC, hold.id, amount=1, idempotency_key="c")
        assert trouble.lookups == lookups
    finally:
        TroubledUnitOfWork.__init__ = original  # type: ignore[method-assign]
