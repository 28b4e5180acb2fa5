"""A chat answer whose storing COMMIT loses its answer (issue 20's `OutcomeUnknown`, issue 19's
saga): the service finds out on a fresh unit of work whether the two messages were stored.

Storing and capturing are one transaction: stored means charged. Stored: the answer is returned
(201) with its charge, never voided while it sits in the history for free. Not stored: nothing is
charged. Unknown (storage still unreachable): the hold is kept, never voided (a stored answer was
charged with it; an answer not stored leaves a hold that expires); the error says the outcome is
unknown."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory.uow import MemoryUnitOfWork
from domain.shared.errors import OutcomeUnknown, Unavailable
from tests.unit.test_coaching_services import ADA, World


class LosingCommits:
    """Wraps the world's unit-of-work factory: the next commit that stores messages (`on="claim"`:
    that claims a key, the first transaction) ends like a lost connection, after (`committed=True`)
    or before the data is in; then `refuse` units cannot begin."""

    def __init__(self, world: World, *, committed: bool, refuse: int = 0, on: str = "messages") -> None:
        self.real, self.committed, self.refuse, self.armed = world.uow, committed, refuse, True
        self.on = on
        world.coaching_uow = self  # the use cases' factory

    def __call__(self) -> MemoryUnitOfWork:
        if self.refuse and not self.armed:
            self.refuse -= 1
            raise Unavailable("The database is not answering.")
        unit = self.real()
        stored: list[Any] = []
        add, commit = unit.coaching.add_message, unit._commit

        def add_message(message: Any) -> None:
            stored.append(message)
            add(message)

        def losing_commit() -> None:
            if stored and self.armed:
                self.armed = False
                if self.committed:
                    commit()
                else:
                    unit._rollback()
                raise OutcomeUnknown("The connection was lost during COMMIT.")
            commit()

        add_claim = unit.coaching.add_claim

        def claim(claimed: Any) -> None:
            stored.append(claimed)
            add_claim(claimed)

        if self.on == "claim":
            unit.coaching.add_claim = claim  # type: ignore[method-assign]
        else:
            unit.coaching.add_message = add_message  # type: ignore[method-assign]
        unit._commit = losing_commit  # type: ignore[method-assign]
        return unit


@pytest.fixture
def world() -> World:
    return World()


def test_a_lost_commit_that_stored_the_answer_is_captured_once_and_answered(world: World) -> None:
    session = world.session()
    LosingCommits(world, committed=True)
    exchange = world.coaching.send_message(ADA, session.id, "Hi")
    assert exchange.credits_charged > 0
    assert world.charges() == [exchange.credits_charged]
    assert world.ledger.balance(ADA).held == 0
    assert [m.role for m in world.messages(session.id)] == ["user", "assistant"]
    assert world.messages(session.id)[1].settled


def test_a_lost_commit_that_stored_nothing_charges_nothing(world: World) -> None:
    session = world.session()
    LosingCommits(world, committed=False)
    with pytest.raises(Unavailable):
        world.coaching.send_message(ADA, session.id, "Hi")
    assert world.charges() == [] and world.ledger.balance(ADA).held == 0
    assert world.messages(session.id) == []


def test_an_unknown_outcome_that_stored_the_answer_had_charged_it_in_the_same_commit(world: World) -> None:
    session = world.session()
    losing = LosingCommits(world, committed=True, refuse=3)
    with pytest.raises(OutcomeUnknown):
        world.coaching.send_message(ADA, session.id, "Hi")
    world.coaching_uow = losing.real  # the database is back
    stored = world.messages(session.id)[1]
    assert stored.settled and world.charges() == [stored.credits_charged] > [0]
    assert world.ledger.balance(ADA).held == 0  # captured, not voided: never a stored answer for free

    world.clock.advance(seconds=61)
    assert world.coaching.sweep().settled_messages == 0
    assert world.charges() == [stored.credits_charged]


def test_an_unknown_outcome_that_stored_nothing_keeps_the_hold_until_it_expires(world: World) -> None:
    session = world.session()
    losing = LosingCommits(world, committed=False, refuse=3)
    with pytest.raises(OutcomeUnknown):
        world.coaching.send_message(ADA, session.id, "Hi")
    world.coaching_uow = losing.real
    assert world.messages(session.id) == [] and world.ledger.balance(ADA).held > 0  # kept: nobody could tell

    world.clock.advance(seconds=world.coaching.config.chat_hold_ttl + 1)
    world.ledger.release_expired_holds()
    assert world.ledger.balance(ADA).held == 0 and world.charges() == []


# --- the first transaction (claim, checks, hold) loses its COMMIT's answer -------------------------
def test_a_lost_first_commit_that_held_goes_on_and_charges_the_message_once(world: World) -> None:
    session = world.session()
    LosingCommits(world, committed=True, on="claim")

    exchange = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")

    assert world.charges() == [exchange.credits_charged] > [0] and world.ledger.balance(ADA).held == 0
    assert [m.role for m in world.messages(session.id)] == ["user", "assistant"]


def test_a_lost_first_commit_that_held_nothing_is_503_and_leaves_the_key_free(world: World) -> None:
    session = world.session()
    LosingCommits(world, committed=False, on="claim")
    with pytest.raises(Unavailable):
        world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")
    assert world.holds() == [] and world.messages(session.id) == []

    exchange = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")  # the retry

    assert world.charges() == [exchange.credits_charged] and not exchange.replayed
