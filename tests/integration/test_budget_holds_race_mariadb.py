"""Budgeted holds finished in any order, twice, while the expiry sweep runs (issue 25's budget
writes ride in the COMMIT's batch): on a real MariaDB with threads.

What must hold after any interleaving: every hold ends exactly once (captured at its price, voided,
or expired); a workspace's month of usage equals what was captured (a void or an expiry gives its
reservation back in full, a capture keeps only its price); no reservation outlives its hold; each
repeated call replays its first answer; the account's balance fell by exactly what was captured,
and the ledger's invariants hold."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope
from domain.ledger.errors import HoldExpired
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.settings import T0, unique

pytestmark = pytest.mark.mysql

HOLDS, AMOUNT, PRICE = 24, 10, 7


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container(queue=RecordingJobQueue(), clock=ManualClock(T0))


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
@pytest.mark.parametrize("round_", range(3))
def test_budgeted_holds_captured_voided_and_expired_at_once_count_each_credit_once(
    container: Container, round_: int
) -> None:
    ledger, clock = container.ledger, container.clock
    assert isinstance(clock, ManualClock)
    account = unique("acct")
    ledger.open_account(account)
    ledger.grant(account, source="promo", amount=HOLDS * AMOUNT, idempotency_key=unique("fund"))
    scope = BudgetScope(budget_id=unique("ws"), member_id=account)
    month = clock.now().strftime("%Y-%m")
    holds = []
    for n in range(HOLDS):  # every third hold is short-lived: it expires before anyone finishes it
        ttl = 60 if n % 3 == 0 else 3600
        held = ledger.hold(account, amount=AMOUNT, idempotency_key=unique("h"), ttl_seconds=ttl, budget=scope)
        assert held.hold is not None
        holds.append((held.hold.id, ttl))
    clock.advance(seconds=120)

    calls: list[Callable[[], Any]] = []
    for n, (hold_id, _) in enumerate(holds):
        if n % 2 == 0:
            call = partial(ledger.capture, account, hold_id, amount=PRICE, idempotency_key=f"c:{hold_id}")
        else:
            call = partial(ledger.void, account, hold_id, idempotency_key=f"v:{hold_id}")
        calls += [call, call]  # each delivered twice, racing its own repeat
    calls += [ledger.release_expired_holds] * 4

    def outcome(index: int, call: Callable[[], Any]) -> tuple[int, Any]:
        try:
            return index, call()
        except HoldExpired as gone:
            return index, gone

    finished, errors = run_together([partial(outcome, i, c) for i, c in enumerate(calls)])
    assert errors == []
    outcomes = dict(finished)  # run_together returns in completion order

    captured = {hold_id for n, (hold_id, ttl) in enumerate(holds) if n % 2 == 0 and ttl > 60}
    for n, (_, ttl) in enumerate(holds):
        first, again = outcomes[2 * n], outcomes[2 * n + 1]
        if ttl == 60:  # expired before any call: every call says so
            assert isinstance(first, HoldExpired) and isinstance(again, HoldExpired)
        else:
            assert first == again  # the repeat replays the first answer
    balance = ledger.balance(account)
    assert (balance.balance, balance.held) == (HOLDS * AMOUNT - PRICE * len(captured), 0)
    with container.uow() as uow:
        used = uow.budgets.usage_of_month(scope.budget_id, month)
        left = [uow.budgets.take_reservation(hold_id) for hold_id, _ in holds]
    assert used == {WORKSPACE_LEVEL: PRICE * len(captured), account: PRICE * len(captured)}
    assert left == [None] * HOLDS
    assert ledger.check_invariants(account) == []
