"""Workspace and member budgets in the ledger's hold (issue 23), on memory: the one rule's
boundaries, what hold / capture / void / expiry do to usage, and the state machine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings

from adapters.memory.uow import MemoryUnitOfWorkFactory
from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope, Caps, check_spend
from domain.ledger.errors import InsufficientCredits, MemberBudgetExceeded, WorkspaceBudgetExceeded
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from tests.fixtures.budget_machine import BudgetMachine, make_team
from tests.fixtures.ledger import PRICES, NamespacedIds
from tests.fixtures.settings import T0

OWNER, WS, ANN, BOB = "usr_owner", "wsp_1", "usr_ann", "usr_bob"


# --- the rule ------------------------------------------------------------------------------------
def test_a_spend_that_lands_exactly_on_a_cap_is_allowed_and_one_credit_more_is_not() -> None:
    check_spend(30, available=100, caps=Caps(budget=50, member=40), budget_used=20, member_used=10)  # 50 / 40 exactly
    with pytest.raises(WorkspaceBudgetExceeded) as refused:
        check_spend(31, available=100, caps=Caps(budget=50, member=None), budget_used=20, member_used=10)
    assert refused.value.details == {"needed": 31, "available": 30}
    with pytest.raises(MemberBudgetExceeded):
        check_spend(31, available=100, caps=Caps(budget=None, member=40), budget_used=0, member_used=10)
    check_spend(100, available=100, caps=Caps(None, None), budget_used=0, member_used=0)
    with pytest.raises(InsufficientCredits) as short:
        check_spend(101, available=100, caps=Caps(None, None), budget_used=0, member_used=0)
    assert type(short.value) is InsufficientCredits


def test_the_refusal_names_the_level_with_the_least_room_balance_first_on_a_tie() -> None:
    def refusal(available: int, budget: int | None, member: int | None) -> type:
        with pytest.raises(InsufficientCredits) as refused:
            check_spend(100, available=available, caps=Caps(budget, member), budget_used=0, member_used=0)
        return type(refused.value)

    assert refusal(50, 60, 70) is InsufficientCredits
    assert refusal(80, 60, 70) is WorkspaceBudgetExceeded
    assert refusal(80, 90, 70) is MemberBudgetExceeded
    assert refusal(60, 60, 60) is InsufficientCredits
    assert refusal(80, 60, 60) is WorkspaceBudgetExceeded


def test_a_cap_lowered_below_what_is_used_refuses_everything_with_no_room_left() -> None:
    with pytest.raises(WorkspaceBudgetExceeded) as refused:
        check_spend(1, available=100, caps=Caps(budget=10, member=None), budget_used=25, member_used=0)
    assert refused.value.details["available"] == 0
    with pytest.raises(MemberBudgetExceeded):
        check_spend(1, available=100, caps=Caps(budget=None, member=0), budget_used=0, member_used=0)


# --- the ledger applies it -------------------------------------------------------------------------
class World:
    def __init__(self, ws_cap: int | None = None, ann_cap: int | None = None, fund: int = 1000) -> None:
        self.clock = ManualClock(T0)
        self.uow = MemoryUnitOfWorkFactory()
        self.ledger = Ledger(
            uow=self.uow, clock=self.clock, ids=NamespacedIds("t"), prices=PRICES, default_hold_ttl=600
        )
        self.ledger.open_account(OWNER)
        make_team(self.uow, "t", OWNER, WS, {ANN: ann_cap, BOB: None})
        with self.uow() as uow:
            workspace = uow.coaching.get_workspace(WS)
            workspace.monthly_credit_limit = ws_cap
            uow.coaching.update_workspace(workspace)
            uow.commit()
        if fund:
            self.ledger.grant(OWNER, source="purchase", amount=fund, idempotency_key="fund")
        self.n = 0

    def hold(self, member: str, amount: int, key: str | None = None) -> Any:
        self.n += 1
        return self.ledger.hold(
            OWNER, amount=amount, idempotency_key=key or f"h{self.n}", budget=BudgetScope(WS, member)
        )

    def usage(self) -> dict[str, int]:
        with self.uow() as uow:
            return {k: v for k, v in uow.budgets.usage_of_month(WS, "2026-01").items() if v}


def test_a_hold_counts_at_both_levels_and_a_capture_below_it_gives_the_difference_back() -> None:
    world = World(ws_cap=100)
    hold = world.hold(ANN, 60).hold
    assert world.usage() == {WORKSPACE_LEVEL: 60, ANN: 60}
    assert world.ledger.balance(OWNER).held == 60  # the owner's credits, not Ann's
    world.ledger.capture(OWNER, hold.id, amount=25, idempotency_key="c")
    assert world.usage() == {WORKSPACE_LEVEL: 25, ANN: 25}
    world.hold(BOB, 75)  # 25 + 75 lands exactly on the cap
    with pytest.raises(WorkspaceBudgetExceeded):
        world.hold(ANN, 1)
    assert world.usage() == {WORKSPACE_LEVEL: 100, ANN: 25, BOB: 75}  # the refusal wrote nothing


def test_a_void_and_an_expired_hold_give_everything_back() -> None:
    world = World(ann_cap=50)
    voided = world.hold(ANN, 50).hold
    with pytest.raises(MemberBudgetExceeded):
        world.hold(ANN, 1)
    world.ledger.void(OWNER, voided.id, idempotency_key="v")
    assert world.usage() == {}
    world.hold(ANN, 50)
    world.clock.advance(seconds=601)
    assert world.ledger.release_expired_holds() == 1
    assert world.usage() == {}
    world.hold(ANN, 50)  # the room came back
    world.clock.advance(seconds=601)
    world.hold(BOB, 10)  # the next call on the account releases the expired hold first
    assert world.usage() == {WORKSPACE_LEVEL: 10, BOB: 10}


def test_a_replayed_hold_key_counts_once_and_another_member_with_it_is_a_conflict() -> None:
    from domain.shared.errors import IdempotencyConflict

    world = World()
    first = world.hold(ANN, 40, key="same")
    assert world.hold(ANN, 40, key="same").hold.id == first.hold.id
    assert world.usage() == {WORKSPACE_LEVEL: 40, ANN: 40}
    with pytest.raises(IdempotencyConflict):
        world.hold(BOB, 40, key="same")


def test_the_balance_still_binds_when_every_cap_has_room() -> None:
    world = World(ws_cap=5000, ann_cap=5000)
    with pytest.raises(InsufficientCredits) as short:
        world.hold(ANN, 1001)
    assert type(short.value) is InsufficientCredits and world.usage() == {}


def test_holds_without_a_budget_count_nowhere() -> None:
    world = World(ws_cap=10)
    hold = world.ledger.hold(OWNER, amount=500, idempotency_key="own")
    world.ledger.capture(OWNER, hold.hold.id, amount=500, idempotency_key="own-c")
    assert world.usage() == {}


def test_grant_expiry_trimming_a_hold_is_settled_at_its_capture() -> None:
    world = World(fund=0)
    world.ledger.grant(
        OWNER, source="promo", amount=100, idempotency_key="soon", expires_at=world.clock.now() + timedelta(seconds=60)
    )
    hold = world.hold(ANN, 100).hold
    world.clock.advance(seconds=61)
    world.ledger.expire_grants()  # the hold is trimmed to 0
    captured = world.ledger.capture(OWNER, hold.id, amount=100, idempotency_key="c")
    assert captured.entry is None and world.usage() == {}


class MemoryBudgetMachine(BudgetMachine):
    def make_uow(self) -> Any:
        return MemoryUnitOfWorkFactory()


TestBudgetsOnMemory = MemoryBudgetMachine.TestCase
TestBudgetsOnMemory.settings = settings(max_examples=50, deadline=None)
