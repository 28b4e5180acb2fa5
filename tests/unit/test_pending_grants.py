"""Pending grants (issue 24): recorded in the ledger, outside the balance, released or voided once.
The state machine (tests/fixtures/ledger_machine.py) runs them with every other verb; these pin the edges
and prove the invariant checker sees a broken pending grant."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.memory.uow import MemoryUnitOfWorkFactory
from domain.ledger.errors import InsufficientCredits, PendingGrantClosed
from domain.ledger.model import PendingStatus
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from tests.fixtures.ledger import PRICES, NamespacedIds
from tests.fixtures.settings import T0


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    """The ledger's storage, for the tests that seed a bug the checker must see."""
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def ledger(uow: MemoryUnitOfWorkFactory) -> Ledger:
    ledger = Ledger(uow=uow, clock=ManualClock(T0), ids=NamespacedIds("p"), prices=PRICES)
    ledger.open_account("acc")
    return ledger


def test_a_pending_grant_is_not_spendable_until_released(ledger: Ledger) -> None:
    pending = ledger.add_pending_grant("acc", source="referral", amount=30, idempotency_key="k1")
    assert ledger.balance("acc").balance == 0
    with pytest.raises(InsufficientCredits):
        ledger.charge("acc", feature_key="api.call", idempotency_key="k2")
    ledger.release_pending_grant(pending, idempotency_key="k3")
    assert ledger.balance("acc").available == 30
    ledger.charge("acc", feature_key="api.call", idempotency_key="k4")
    assert ledger.check_invariants("acc") == []


def test_a_voided_pending_grant_cannot_be_released_and_a_released_one_cannot_be_voided(ledger: Ledger) -> None:
    voided = ledger.add_pending_grant("acc", source="referral", amount=30, idempotency_key="k1")
    ledger.void_pending_grant(voided, idempotency_key="k2")
    with pytest.raises(PendingGrantClosed):
        ledger.release_pending_grant(voided, idempotency_key="k3")
    released = ledger.add_pending_grant("acc", source="referral", amount=20, idempotency_key="k4")
    first = ledger.release_pending_grant(released, idempotency_key="k5")
    assert ledger.release_pending_grant(released, idempotency_key="k5") == first  # a replay, not a second grant
    with pytest.raises(PendingGrantClosed):
        ledger.void_pending_grant(released, idempotency_key="k6")
    assert ledger.balance("acc").balance == 20
    assert ledger.check_invariants("acc") == []


def _corrupt(uow: MemoryUnitOfWorkFactory, ledger: Ledger, pending_id: str, **changes: object) -> list[str]:
    with uow() as unit:  # the test writes to storage to seed the bug the checker must see
        found = unit.ledger.get_pending_grant(pending_id)
        assert found is not None
        unit.ledger.update_pending_grant(replace(found, **changes))  # type: ignore[arg-type]
        unit.commit()
    return ledger.check_invariants("acc")


def test_the_checker_sees_a_release_without_a_grant(uow: MemoryUnitOfWorkFactory, ledger: Ledger) -> None:
    pending = ledger.add_pending_grant("acc", source="referral", amount=30, idempotency_key="k1")
    found = _corrupt(uow, ledger, pending, status=PendingStatus.RELEASED, finished_at=T0)
    assert any("released without a grant" in v for v in found)


def test_the_checker_sees_a_release_of_the_wrong_amount(uow: MemoryUnitOfWorkFactory, ledger: Ledger) -> None:
    pending = ledger.add_pending_grant("acc", source="referral", amount=30, idempotency_key="k1")
    ledger.release_pending_grant(pending, idempotency_key="k2")
    found = _corrupt(uow, ledger, pending, amount=31)
    assert any("released as 30" in v for v in found)


def test_the_checker_sees_an_open_pending_grant_that_names_a_grant(
    uow: MemoryUnitOfWorkFactory, ledger: Ledger
) -> None:
    pending = ledger.add_pending_grant("acc", source="referral", amount=30, idempotency_key="k1")
    assert ledger.check_invariants("acc") == []
    found = _corrupt(uow, ledger, pending, grant_id="grt_x")
    assert any("names grant" in v for v in found)
