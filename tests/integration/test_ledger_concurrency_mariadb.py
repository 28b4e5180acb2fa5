"""Concurrent ledger calls on a real MariaDB: 16 threads, each with its own unit of work.

The account row lock (SELECT ... FOR UPDATE) must serialise every mutation of one account, so
racing charges, holds and captures never overdraw it and a replayed key writes exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pytest

from domain.ledger.errors import InsufficientCredits
from domain.ledger.model import GrantSource, Price, PriceList
from domain.ledger.services import Ledger
from domain.shared.clock import SystemClock
from domain.shared.ids import RandomIds
from tests.fixtures.concurrency import run_together
from tests.fixtures.settings import unique

pytestmark = pytest.mark.mysql

THREADS = 16
PRICES = PriceList({"api.call": Price(credits=1, unit="call")})
T = TypeVar("T")


@pytest.fixture
def ledger(mysql_engine: Any) -> Ledger:
    from adapters.sql.uow import SqlUnitOfWorkFactory

    uow: Any = SqlUnitOfWorkFactory(mysql_engine)  # SqlUnitOfWork sets .ledger on entry: mypy cannot see it
    return Ledger(uow=uow, clock=SystemClock(), ids=RandomIds(), prices=PRICES)


def funded_account(ledger: Ledger, credits: int) -> str:
    account_id = unique("race")
    ledger.open_account(account_id)
    ledger.grant(account_id, source=GrantSource.PURCHASE, amount=credits, idempotency_key=unique("fund"))
    return account_id


def race(work: Callable[[int], T]) -> list[T]:
    """Run work(0..THREADS-1) on THREADS threads released together; what any of them raises fails
    the test. The results come in the order the threads finished."""
    results, errors = run_together([partial(work, index) for index in range(THREADS)])
    assert errors == []
    return results


def entry_count(ledger: Ledger, account_id: str) -> int:
    total, cursor = 0, None
    while True:
        page = ledger.transactions(account_id, limit=100, cursor=cursor)
        total += len(page.items)
        if page.next_cursor is None:
            return total
        cursor = page.next_cursor


# --- charges against one account -----------------------------------------------------------------
@dataclass
class Tally:
    succeeded: int = 0
    refused: int = 0
    debited: int = 0
    capture_failures: list[str] = field(default_factory=list)


def charge_once(ledger: Ledger, account_id: str, tally: Tally) -> None:
    try:
        ledger.charge(account_id, feature_key="api.call", idempotency_key=unique("chg"))
    except InsufficientCredits:
        tally.refused += 1
    else:
        tally.succeeded += 1
        tally.debited += 1


def charge_many(ledger: Ledger, account_id: str, times: int) -> Tally:
    tally = Tally()
    for _ in range(times):
        charge_once(ledger, account_id, tally)
    return tally


def test_racing_charges_spend_exactly_the_balance_and_no_more(ledger: Ledger) -> None:
    account_id = funded_account(ledger, 300)

    tallies = race(lambda _: charge_many(ledger, account_id, 50))

    assert sum(t.succeeded for t in tallies) == 300
    assert sum(t.refused for t in tallies) == 500
    assert ledger.balance(account_id).balance == 0
    assert ledger.check_invariants(account_id) == []
    assert entry_count(ledger, account_id) == 300 + 1


# --- holds and captures racing charges -----------------------------------------------------------
def hold_then_capture(ledger: Ledger, account_id: str, rng: random.Random, tally: Tally) -> None:
    try:
        movement = ledger.hold(account_id, amount=2, idempotency_key=unique("hold"), feature_key="api.call")
    except InsufficientCredits:
        tally.refused += 1
        return
    assert movement.hold is not None
    actual = rng.choice([0, 1, 2])  # 0: the work failed, the hold is voided
    try:
        if actual == 0:
            ledger.void(account_id, movement.hold.id, idempotency_key=unique("void"))
        else:
            ledger.capture(account_id, movement.hold.id, amount=actual, idempotency_key=unique("cap"))
            tally.debited += actual
        tally.succeeded += 1
    except Exception as error:  # a placed hold must always be capturable: record, assert later
        tally.capture_failures.append(repr(error))


def mixed_work(ledger: Ledger, account_id: str, index: int, rounds: int) -> Tally:
    rng = random.Random(index)
    tally = Tally()
    for _ in range(rounds):
        if rng.random() < 0.5:
            hold_then_capture(ledger, account_id, rng, tally)
        else:
            charge_once(ledger, account_id, tally)
    return tally


def test_holds_and_captures_racing_charges_never_overdraw_and_account_for_every_credit(
    ledger: Ledger,
) -> None:
    initial = 400
    account_id = funded_account(ledger, initial)

    tallies = race(lambda index: mixed_work(ledger, account_id, index, rounds=40))

    balance = ledger.balance(account_id)
    assert [f for t in tallies for f in t.capture_failures] == []
    assert sum(t.refused for t in tallies) > 0, "the race should have run the account dry"
    assert balance.balance >= 0 and balance.held == 0
    assert sum(t.debited for t in tallies) == initial - balance.balance
    assert ledger.check_invariants(account_id) == []


# --- one idempotency key replayed by every thread ------------------------------------------------
def test_one_idempotency_key_replayed_by_sixteen_threads_writes_one_entry(ledger: Ledger) -> None:
    account_id = funded_account(ledger, 10)
    key = unique("same")

    movements = race(lambda _: ledger.charge(account_id, feature_key="api.call", idempotency_key=key))

    entry_ids = {m.entry.id for m in movements if m.entry is not None}
    assert len(entry_ids) == 1 and all(m.entry is not None for m in movements)
    assert ledger.balance(account_id).balance == 9
    assert entry_count(ledger, account_id) == 1 + 1
    assert ledger.check_invariants(account_id) == []
