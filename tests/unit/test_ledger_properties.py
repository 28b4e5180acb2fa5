"""The ledger's invariants under random operation sequences, on the memory adapter (fast, many examples)."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from adapters.memory.uow import MemoryUnitOfWorkFactory
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from tests.fixtures.ledger import PRICES, NamespacedIds, state_of
from tests.fixtures.ledger_machine import LedgerMachine
from tests.fixtures.ledger_sequences import operations, run_sequence
from tests.fixtures.settings import T0


class MemoryLedgerMachine(LedgerMachine):
    def make_uow(self) -> Any:
        return MemoryUnitOfWorkFactory()


TestLedgerInvariantsOnMemory = MemoryLedgerMachine.TestCase


@given(steps=operations)
def test_the_same_sequence_twice_on_memory_gives_the_same_results(steps: list[Any]) -> None:
    """Determinism first: the differential test against SQL (integration) relies on it."""
    outcomes = []
    for _ in range(2):
        uow, clock = MemoryUnitOfWorkFactory(), ManualClock(T0)
        ledger = Ledger(uow=uow, clock=clock, ids=NamespacedIds("same"), prices=PRICES)
        ledger.open_account("acc")
        outcomes.append((run_sequence(ledger, clock, "acc", steps), state_of(ledger, uow, "acc")))
    assert outcomes[0] == outcomes[1]
