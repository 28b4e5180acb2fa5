"""50 chat messages at once from 5 members of one workspace on a real MariaDB (issue 23): the owner
can pay for far more than the workspace's monthly cap allows, so the cap binds. Each message has
its own session (the same prompt, so the same estimate) and the model uses its whole reply cap (so
each capture equals its hold): exactly cap // price messages are answered; every other one is
`402 workspace_budget_exceeded` before its model call; usage lands exactly on the cap; no hold is
left; the owner paid for all of them and the members for none; the ledger's invariants hold."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.ledger.budgets import WORKSPACE_LEVEL
from domain.ledger.errors import InsufficientCredits, WorkspaceBudgetExceeded
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.llm import FakeCoach
from tests.fixtures.settings import unique

pytestmark = pytest.mark.mysql

MEMBERS, PER_MEMBER, AFFORDABLE = 5, 10, 17


@pytest.fixture
def container(make_container: Callable[..., Container], backend: str) -> Container:
    if backend != "mariadb":
        pytest.skip("the race runs on MariaDB (row locks); memory and SQLite serialise everything")
    return make_container(queue=RecordingJobQueue(), coach_model=FakeCoach(tokens_out=10**6))


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_50_messages_from_5_members_answer_exactly_what_the_workspace_cap_allows(container: Container) -> None:
    coaching, ledger, model = container.coaching, container.ledger, container.coach_model
    assert coaching is not None and isinstance(model, FakeCoach)
    password = "correct horse battery"
    owner = container.identity.register(f"{unique('owner')}@example.com", password).user.id
    workspace = coaching.create_workspace(owner, name="Race")
    members = []
    for _ in range(MEMBERS):
        email = f"{unique('member')}@example.com"
        member = container.identity.register(email, password).user.id
        invitation = coaching.invite(owner, workspace.id, email=email, role="member")
        coaching.respond_to_invitation(member, invitation.id, accept=True)
        members.append(member)
    price = coaching.send_message(owner, coaching.create_session(owner, workspace.id).id, "Plan my day").credits_charged
    ledger.grant(owner, source="promo", amount=10 * AFFORDABLE * price, idempotency_key=unique("fund"))
    month = container.clock.now().strftime("%Y-%m")
    cap = price + AFFORDABLE * price  # the calibration message already used `price` of it
    coaching.update_workspace(owner, workspace.id, {"monthly_credit_limit": cap})
    sessions = [(m, coaching.create_session(m, workspace.id).id) for m in members for _ in range(PER_MEMBER)]
    before = ledger.balance(owner)
    calls_before = len(model.calls)

    def send(pair: tuple[str, str]) -> Any:
        try:
            return coaching.send_message(pair[0], pair[1], "Plan my day")
        except InsufficientCredits as refused:
            return refused

    outcomes, errors = run_together([partial(send, pair) for pair in sessions])
    assert errors == []  # anything but a refusal fails the test

    answered = [o for o in outcomes if not isinstance(o, InsufficientCredits)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert (len(answered), len(refused)) == (AFFORDABLE, MEMBERS * PER_MEMBER - AFFORDABLE)
    assert all(type(r) is WorkspaceBudgetExceeded for r in refused)
    assert all(o.credits_charged == price for o in answered)
    assert len(model.calls) - calls_before == AFFORDABLE  # a refused message never reached the model
    after = ledger.balance(owner)
    assert (after.balance, after.held) == (before.balance - AFFORDABLE * price, 0)
    for member in members:  # the members' own credits were never touched
        assert ledger.balance(member).balance == ledger.balance(member).available
    usage = coaching.workspace_usage(owner, workspace.id, month)
    assert usage.total == cap and sum(usage.by_member.values()) == cap
    with container.uow() as uow:
        assert uow.budgets.usage(workspace.id, WORKSPACE_LEVEL, month) == cap
    assert ledger.check_invariants(owner) == []
