"""100 chat messages at once from one user who can pay for exactly 40, on a real MariaDB.

Each message goes to its own session (so every prompt, and so every estimate, is the same) and
the model always uses its whole reply cap (so each capture equals its hold): the affordable
number is then exactly balance // estimate. Exactly that many are answered and charged; every
other one is 402 before its model call; no hold is left; the ledger's invariants hold.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.ledger.errors import InsufficientCredits
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.llm import FakeCoach
from tests.fixtures.settings import unique

pytestmark = pytest.mark.mysql

MESSAGES, AFFORDABLE = 100, 40


@pytest.fixture
def container(make_container: Callable[..., Container], backend: str) -> Container:
    if backend != "mariadb":
        pytest.skip("the race runs on MariaDB (row locks); memory and SQLite serialise everything")
    return make_container(queue=RecordingJobQueue(), coach_model=FakeCoach(tokens_out=10**6))


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_100_concurrent_messages_with_credits_for_40_answer_exactly_40(container: Container) -> None:
    coaching, ledger, model = container.coaching, container.ledger, container.coach_model
    assert coaching is not None and isinstance(model, FakeCoach)
    user = container.identity.register(f"{unique('race')}@example.com", "correct horse battery").user.id
    workspace = coaching.create_workspace(user, name="Race")
    sessions = [coaching.create_session(user, workspace.id) for _ in range(MESSAGES + 1)]
    price = coaching.send_message(user, sessions[0].id, "Plan my day").credits_charged  # calibrates one message
    ledger.grant(user, source="promo", amount=AFFORDABLE * price, idempotency_key=unique("fund"))
    ledger.adjust(
        user,
        amount=-ledger.balance(user).available + AFFORDABLE * price,
        reason="exact",
        actor="test",
        idempotency_key=unique("trim"),
    )
    assert ledger.balance(user).available == AFFORDABLE * price
    calls_before = len(model.calls)

    def send(index: int) -> Any:
        try:
            return coaching.send_message(user, sessions[index + 1].id, "Plan my day")
        except InsufficientCredits as refused:
            return refused

    outcomes, errors = run_together([partial(send, index) for index in range(MESSAGES)])
    assert errors == []  # anything but a refusal fails the test

    answered = [o for o in outcomes if not isinstance(o, InsufficientCredits)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert (len(answered), len(refused)) == (AFFORDABLE, MESSAGES - AFFORDABLE)
    assert all(o.credits_charged == price for o in answered)
    assert len(model.calls) - calls_before == AFFORDABLE  # a refused message never reached the model
    view = ledger.balance(user)
    assert (view.balance, view.held, view.available) == (0, 0, 0)
    stored = sum(coaching.get_session(user, s.id).session.message_count for s in sessions[1:])
    assert stored == 2 * AFFORDABLE
    assert ledger.check_invariants(user) == []


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_concurrent_messages_in_one_session_each_get_their_own_place_in_the_history(container: Container) -> None:
    coaching = container.coaching
    assert coaching is not None
    user = container.identity.register(f"{unique('race')}@example.com", "correct horse battery").user.id
    container.ledger.grant(user, source="promo", amount=10_000, idempotency_key=unique("fund"))
    session = coaching.create_session(user, coaching.create_workspace(user, name="One").id)
    answers, errors = run_together(
        [partial(coaching.send_message, user, session.id, f"message {index}") for index in range(12)]
    )
    assert errors == []

    messages = coaching.get_session(user, session.id, limit=200).messages.items
    assert [m.seq for m in messages] == list(range(1, 25))
    assert sorted(m.content for m in messages if m.role == "user") == sorted(f"message {n}" for n in range(12))
    assert all(messages[i].role == "user" and messages[i + 1].role == "assistant" for i in range(0, 24, 2))
    charged = sum(a.credits_charged for a in answers)
    view = container.ledger.balance(user)
    assert view.held == 0 and view.balance == 10_100 - charged and container.ledger.check_invariants(user) == []
