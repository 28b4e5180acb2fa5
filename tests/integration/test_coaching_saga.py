"""The chat and task saga (hold -> model -> store -> capture -> settle) under crashes, outages,
deletions and repeated keys, on memory, SQLite and MariaDB (issue 19; the table is in
domain/coaching/services/chat.py).

Invariant after every scenario: every answer that was stored or sent is charged exactly once (at
most its hold), nothing else is charged, and no hold is left active.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from domain.coaching.errors import RequestInProgress, WorkspaceNotFound
from domain.coaching.model import Claim, TaskStatus
from domain.coaching.services import Coaching
from domain.ledger.errors import SweepIncomplete
from domain.ledger.ports import LedgerUnitOfWork
from domain.ledger.results import BalanceView, Movement
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from domain.shared.errors import Conflict, DuplicateRecord, NotFound, Unavailable
from domain.shared.idempotency import request_key
from entrypoints.bootstrap import Container
from tests.fixtures.coaching import store_uncaptured
from tests.fixtures.llm import FakeCoach
from tests.fixtures.settings import T0, unique

FUNDS = 10_000


class FlakyHolds:
    """A CreditHolds in front of the real ledger whose next `failing` captures fail: with
    Unavailable (the database gone) or RuntimeError (the process dying while capturing). A chat
    answer is captured by `capture_within`, in the transaction that stores it: a failing capture
    rolls the storing back with it (the request then retries that transaction, or voids)."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.failing = 0
        self.error: type[Exception] = Unavailable

    def _fail(self) -> None:
        if self.failing:
            self.failing -= 1
            raise self.error("The database is unreachable.")

    def hold(self, account_id: str, **kwargs: Any) -> Movement:
        return self.inner.hold(account_id, **kwargs)

    def hold_within(self, uow: LedgerUnitOfWork, account_id: str, **kwargs: Any) -> Movement:
        return self.inner.hold_within(uow, account_id, **kwargs)

    def capture(self, account_id: str, hold_id: str, *, amount: int, idempotency_key: str) -> Movement:
        self._fail()
        return self.inner.capture(account_id, hold_id, amount=amount, idempotency_key=idempotency_key)

    def capture_within(
        self, uow: LedgerUnitOfWork, account_id: str, hold_id: str, *, amount: int, idempotency_key: str
    ) -> Movement:
        self._fail()
        return self.inner.capture_within(uow, account_id, hold_id, amount=amount, idempotency_key=idempotency_key)

    def void(self, account_id: str, hold_id: str, *, idempotency_key: str) -> Movement:
        return self.inner.void(account_id, hold_id, idempotency_key=idempotency_key)

    def balance(self, account_id: str) -> BalanceView:
        return self.inner.balance(account_id)


class Saga:
    def __init__(self, container: Container, clock: ManualClock) -> None:
        self.container, self.clock = container, clock
        self.holds = FlakyHolds(container.ledger)
        self.model = FakeCoach()
        base = container.coaching
        self.coaching = Coaching(
            uow=container.uow,
            ledger=self.holds,
            model=self.model,
            coaches=base.coaches,
            clock=clock,
            ids=container.ids,
            config=base.config,
        )
        self.user = container.identity.register(f"{unique('saga')}@example.com", "password-123").user.id
        container.ledger.grant(self.user, source="promo", amount=FUNDS, idempotency_key=unique("funds"))
        self.granted = container.ledger.balance(self.user).balance
        self.workspace = self.coaching.create_workspace(self.user, name="Acme")
        self.session = self.coaching.create_session(self.user, self.workspace.id)

    def charges(self) -> list[int]:
        return [-e.amount for e in self.container.ledger.transactions(self.user, kind="charge").items]

    def held(self) -> int:
        return self.container.ledger.balance(self.user).held

    def spent(self) -> int:
        return self.granted - self.container.ledger.balance(self.user).balance


@pytest.fixture
def saga(make_container: Callable[..., Container]) -> Saga:
    clock = ManualClock(T0)
    return Saga(make_container(clock=clock, coach_model=FakeCoach()), clock)


# --- defect 8: a 503 means nothing was charged; an answer stored is answered 201 ---------------------
def test_a_capture_that_fails_once_is_retried_within_the_request(saga: Saga) -> None:
    saga.holds.failing = 1

    exchange = saga.coaching.send_message(saga.user, saga.session.id, "Plan my week")

    assert exchange.assistant_message.settled is True
    assert saga.charges() == [exchange.credits_charged] and saga.held() == 0


def test_a_capture_that_keeps_failing_stores_nothing_and_answers_503_with_nothing_charged(saga: Saga) -> None:
    saga.holds.failing = 10  # storing and capturing are one transaction: it fails as a whole, every try

    with pytest.raises(Unavailable):
        saga.coaching.send_message(saga.user, saga.session.id, "Plan my week")

    assert saga.charges() == [] and saga.held() == 0
    assert saga.coaching.get_session(saga.user, saga.session.id).messages.items == []


def test_an_answer_stored_without_its_capture_is_charged_by_the_sweep_after_its_grace(saga: Saga) -> None:
    stored = store_uncaptured(
        saga.container.uow, saga.container.ledger, saga.user, saga.session.id, price=9, at=saga.clock.now()
    )
    saga.clock.advance(seconds=saga.coaching.config.settle_grace - 1)
    saga.coaching.sweep()
    assert saga.charges() == []  # within its grace: left alone
    saga.clock.advance(seconds=2)
    saga.holds.failing = 3  # the sweep finds the ledger gone on each of its tries: the next sweep takes it
    with pytest.raises(SweepIncomplete):
        saga.coaching.sweep()
    assert saga.charges() == [] and saga.held() > 0

    assert saga.coaching.sweep().settled_messages >= 1  # other tests' leftovers may share the database
    assert saga.charges() == [stored.credits_charged] and saga.held() == 0
    assert saga.coaching.get_session(saga.user, saga.session.id).messages.items[1].settled is True


def test_the_hold_outlives_the_settlement_window() -> None:
    from entrypoints.config import ConfigError, load_settings

    with pytest.raises(ConfigError):
        load_settings({"COACH_HOLD_TTL_SECONDS": "60", "HOUSTON_ENV": "test", "JWT_SECRET": "s" * 40})
    with pytest.raises(ConfigError):  # the hold must cover the model's deadline too
        load_settings(
            {
                "COACH_HOLD_TTL_SECONDS": "300",
                "LLM_DEADLINE_SECONDS": "200",
                "HOUSTON_ENV": "test",
                "JWT_SECRET": "s" * 40,
            }
        )
    settings = load_settings({"HOUSTON_ENV": "test", "JWT_SECRET": "s" * 40})
    grace, sweep_period = 60, 60
    assert settings.coach_hold_ttl > settings.llm_deadline + grace + sweep_period
    assert settings.worker_timeout > settings.llm_deadline + 2 * settings.db_read_timeout


# --- deleting with unsettled answers, running tasks, or a message in flight ----------------------------
def test_deleting_a_session_with_an_uncaptured_answer_charges_it_first(saga: Saga) -> None:
    store_uncaptured(
        saga.container.uow, saga.container.ledger, saga.user, saga.session.id, price=9, at=saga.clock.now()
    )
    assert saga.charges() == [] and saga.held() > 0

    saga.coaching.delete_session(saga.user, saga.session.id)

    assert len(saga.charges()) == 1 and saga.held() == 0
    with pytest.raises(WorkspaceNotFound):
        saga.coaching.get_session(saga.user, saga.session.id)


def test_deleting_a_workspace_settles_answers_and_tasks_and_releases_running_ones(saga: Saga) -> None:
    store_uncaptured(
        saga.container.uow, saga.container.ledger, saga.user, saga.session.id, price=9, at=saga.clock.now()
    )
    queued = saga.coaching.create_task(saga.user, type="strategy", workspace_id=saga.workspace.id, input={})
    assert saga.coaching.get_task(saga.user, queued.id).status in (TaskStatus.QUEUED, TaskStatus.SUCCEEDED)

    saga.coaching.delete_workspace(saga.user, saga.workspace.id)

    assert saga.held() == 0
    assert len(saga.charges()) in (1, 2)  # the answer; and the task when the inline queue ran it
    assert saga.spent() == sum(saga.charges())


def test_a_json_answer_whose_session_was_deleted_before_storing_is_not_charged(saga: Saga) -> None:
    original = saga.model.reply

    def reply_then_delete(*args: Any) -> Any:
        saga.coaching.delete_session(saga.user, saga.session.id)  # the user deletes it while the model runs
        return original(*args)

    saga.model.reply = reply_then_delete  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        saga.coaching.send_message(saga.user, saga.session.id, "Plan my week")

    assert saga.charges() == [] and saga.held() == 0  # nothing reached the user


def test_a_streamed_answer_whose_session_was_deleted_is_charged_for_what_was_sent(saga: Saga) -> None:
    events = saga.coaching.stream_message(saga.user, saga.session.id, "Plan my week")
    first = next(events)
    saga.coaching.delete_session(saga.user, saga.session.id)

    with pytest.raises(NotFound) as caught:
        list(events)

    assert first.text  # type: ignore[union-attr]
    assert len(saga.charges()) == 1 and saga.held() == 0
    assert f"the {saga.charges()[0]} credits" in caught.value.message


# --- a hold trimmed by grant expiry before capture ---------------------------------------------------
def test_a_hold_trimmed_by_grant_expiry_charges_what_is_left_and_the_message_says_so(
    make_container: Callable[..., Container],
) -> None:
    clock = ManualClock(T0)
    container = make_container(clock=clock, coach_model=FakeCoach(tokens_out=10**6))
    saga = Saga(container, clock)
    ledger = container.ledger
    ledger.adjust(
        saga.user,
        amount=-ledger.balance(saga.user).balance,
        reason="only the expiring grant",
        actor="test",
        idempotency_key=unique("zero"),
    )
    ledger.grant(
        saga.user, source="promo", amount=40, idempotency_key=unique("short"), expires_at=T0 + timedelta(seconds=30)
    )
    saga.granted = 40
    store_uncaptured(saga.container.uow, ledger, saga.user, saga.session.id, price=40, at=clock.now())
    priced = saga.coaching.get_session(saga.user, saga.session.id).messages.items[1].credits_charged
    assert priced > 0
    clock.advance(seconds=31)
    ledger.expire_grants()  # the held credits expire: the hold is trimmed

    clock.advance(seconds=saga.coaching.config.settle_grace)
    saga.coaching.sweep()

    answer = saga.coaching.get_session(saga.user, saga.session.id).messages.items[1]
    assert answer.settled is True
    assert answer.credits_charged == sum(saga.charges()) < priced  # what was really taken, never more
    assert saga.held() == 0 and ledger.balance(saga.user).balance >= 0


# --- defect 2: the key is claimed before the model is called -----------------------------------------
def test_a_duplicate_while_the_first_is_running_is_409_request_in_progress_without_a_model_call(saga: Saga) -> None:
    key = unique("key")
    with saga.container.uow() as uow:  # the first request has claimed the key and is calling the model
        uow.coaching.add_claim(Claim(request_key(saga.user, "chat", key), _print(saga, "Plan my week"), T0))
        uow.commit()

    with pytest.raises(RequestInProgress):
        saga.coaching.send_message(saga.user, saga.session.id, "Plan my week", idempotency_key=key)
    with pytest.raises(RequestInProgress):
        saga.coaching.stream_message(saga.user, saga.session.id, "Plan my week", idempotency_key=key)

    assert saga.model.calls == [] and saga.held() == 0


def test_a_claim_left_by_a_dead_request_is_taken_over_after_the_hold_ttl(saga: Saga) -> None:
    key = unique("key")
    with saga.container.uow() as uow:
        uow.coaching.add_claim(Claim(request_key(saga.user, "chat", key), _print(saga, "Plan my week"), T0))
        uow.commit()
    saga.clock.advance(seconds=saga.coaching.config.chat_hold_ttl + 1)

    exchange = saga.coaching.send_message(saga.user, saga.session.id, "Plan my week", idempotency_key=key)

    assert len(saga.model.calls) == 1 and saga.charges() == [exchange.credits_charged]


def test_a_failed_attempt_frees_its_key_for_a_retry(saga: Saga) -> None:
    from domain.coaching.errors import CoachUnavailable

    key = unique("key")
    saga.model.fail = True
    with pytest.raises(CoachUnavailable):
        saga.coaching.send_message(saga.user, saga.session.id, "Plan my week", idempotency_key=key)
    saga.model.fail = False

    exchange = saga.coaching.send_message(saga.user, saga.session.id, "Plan my week", idempotency_key=key)

    assert saga.charges() == [exchange.credits_charged] and len(saga.model.calls) == 2


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_parallel_requests_with_one_key_call_the_model_once_on_mariadb(saga: Saga) -> None:
    key, results, errors = unique("key"), [], []
    barrier = threading.Barrier(8)
    original = saga.model.reply

    def slow_reply(*args: Any) -> Any:
        time.sleep(0.5)  # the model takes a while: the duplicates arrive while it runs
        return original(*args)

    saga.model.reply = slow_reply  # type: ignore[method-assign]

    def send() -> None:
        saga.coaching.get_session(saga.user, saga.session.id)  # a connection each, before the race
        barrier.wait()
        try:
            results.append(saga.coaching.send_message(saga.user, saga.session.id, "Plan my week", idempotency_key=key))
        except RequestInProgress as error:
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(saga.model.calls) == 1
    assert len(results) + len(errors) == 8
    assert len({r.assistant_message.id for r in results}) == 1
    assert saga.charges() == [results[0].credits_charged] and saga.held() == 0


def _print(saga: Saga, content: str) -> str:
    from domain.shared.idempotency import fingerprint

    return fingerprint({"session": saga.session.id, "content": content})


# --- defect 7: foreign keys, and creating a task while its workspace is deleted ---------------------
@pytest.mark.parametrize("backend", ["sqlite", "mariadb"], indirect=True)
def test_a_row_whose_parent_is_gone_is_not_found_not_a_duplicate(saga: Saga) -> None:
    from dataclasses import replace

    task = saga.coaching.create_task(saga.user, type="strategy", workspace_id=saga.workspace.id, input={})
    with saga.container.uow() as uow:
        stored = uow.coaching.get_task(task.id)
    assert stored is not None

    with pytest.raises(NotFound) as caught, saga.container.uow() as uow:
        uow.coaching.add_task(replace(stored, id=unique("tsk"), workspace_id="wsp_gone", idempotency_key=None))

    assert not isinstance(caught.value, DuplicateRecord)


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_creating_tasks_while_their_workspace_is_deleted_leaves_no_hold(saga: Saga) -> None:
    outcomes: list[str] = []
    for round_ in range(20):
        workspace = saga.coaching.create_workspace(saga.user, name=f"W{round_}")
        barrier = threading.Barrier(2)

        def create(workspace_id: str = workspace.id) -> None:
            barrier.wait()
            try:
                saga.coaching.create_task(saga.user, type="strategy", workspace_id=workspace_id, input={})
                outcomes.append("created")
            except (WorkspaceNotFound, NotFound):
                outcomes.append("not_found")
            except Conflict as error:
                outcomes.append(f"conflict: {error.message}")

        def delete(workspace_id: str = workspace.id) -> None:
            barrier.wait()
            try:
                saga.coaching.delete_workspace(saga.user, workspace_id)
                outcomes.append("deleted")
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                outcomes.append(f"delete failed: {error!r}")

        threads = [threading.Thread(target=create), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert all(o in ("created", "not_found", "deleted") for o in outcomes), outcomes
    assert outcomes.count("deleted") == 20
    assert saga.held() == 0
    assert saga.spent() == sum(saga.charges())
