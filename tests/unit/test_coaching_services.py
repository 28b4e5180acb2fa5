"""The coaching use cases on memory adapters: money first (holds, captures, voids, the shrinking
cap, idempotent retries, streams abandoned half-way), then access, limits, lists and tasks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.queue.recording import RecordingJobQueue
from domain.coaching.errors import CoachUnavailable, TaskNotCancellable, WorkspaceNotFound
from domain.coaching.model import HISTORY_MAX, Coach, Message, TaskStatus
from domain.coaching.pricing import ChatPricing
from domain.coaching.services import Coaching, CoachingConfig, Delta, Done, Failed
from domain.coaching.services.tasks import TaskUseCases
from domain.ledger.errors import InsufficientCredits
from domain.ledger.model import HoldStatus, Price, PriceList
from domain.shared.clock import ManualClock
from domain.shared.errors import IdempotencyConflict, InvalidInput, TransientError
from domain.shared.ids import SequentialIds
from entrypoints.coaches import load_coaches
from entrypoints.config import Settings
from tests.fixtures.coaching import store_uncaptured
from tests.fixtures.ledger import CrashingCaptureLedger
from tests.fixtures.llm import FakeCoach
from tests.fixtures.settings import T0

PRICES = PriceList(
    {
        "coach.message": Price(1, "message"),
        "coach.tokens_1k": Price(10, "1k tokens"),
        "task.strategy": Price(25, "task"),
        "task.weekly_review": Price(10, "task"),
    }
)
ADA, BOB = "usr_ada", "usr_bob"


class World:
    def __init__(self, credits: int = 1000, **config: Any) -> None:
        self.clock = ManualClock(T0)
        self.queue = RecordingJobQueue()
        self.uow = MemoryUnitOfWorkFactory(queue=self.queue)
        ids = SequentialIds()
        self.ledger = CrashingCaptureLedger(uow=self.uow, clock=self.clock, ids=ids, prices=PRICES)
        self.model = FakeCoach()
        self.coaching_uow: Any = self.uow  # the use cases' unit-of-work factory; a test may wrap it
        self.coaching = Coaching(
            uow=lambda: self.coaching_uow(),
            ledger=self.ledger,
            model=self.model,
            coaches=load_coaches(Settings().coaches_file),
            clock=self.clock,
            ids=ids,
            config=CoachingConfig(prices=PRICES, **config),
        )
        for user in (ADA, BOB):
            self.ledger.open_account(user)
            if credits:
                self.ledger.grant(user, source="promo", amount=credits, idempotency_key=f"seed-{user}")

    def session(self, user: str = ADA, coach: str | None = None) -> Any:
        workspace = self.coaching.create_workspace(user, name="Acme", industry="saas")
        return self.coaching.create_session(user, workspace.id, coach=coach)

    def holds(self, user: str = ADA) -> list[Any]:
        with self.uow() as uow:
            return [h for h in uow.ledger._t("ledger_holds").values() if h.account_id == user]

    def charges(self, user: str = ADA) -> list[int]:
        return [-e.amount for e in self.ledger.transactions(user, kind="charge").items]

    def messages(self, session_id: str) -> list[Message]:
        return self.coaching.get_session(ADA, session_id, limit=200).messages.items


@pytest.fixture
def world() -> World:
    return World()


def pricing() -> ChatPricing:
    return ChatPricing(base=1, per_1k=10)


# --- pricing -----------------------------------------------------------------------------------------
def test_the_affordable_cap_is_the_largest_cap_whose_estimate_fits_the_balance() -> None:
    for multiplier in (Fraction(1), Fraction(3, 2), Fraction(1, 3)):
        for available in range(0, 40):
            try:
                cap = pricing().affordable_cap(300, 600, 64, available, multiplier)
            except InsufficientCredits:
                assert pricing().cost(300 + 64, multiplier) > available
                continue
            assert 64 <= cap <= 600 and pricing().cost(300 + cap, multiplier) <= available
            assert cap == 600 or pricing().cost(300 + cap + 1, multiplier) > available


# --- one message: hold, model, store, capture ----------------------------------------------------------
def test_a_message_is_held_at_its_estimate_then_captured_at_the_tokens_used(world: World) -> None:
    session = world.session()
    exchange = world.coaching.send_message(ADA, session.id, "What first?")

    ((messages, settings),) = world.model.calls
    answer = exchange.assistant_message
    used = pricing().cost(answer.tokens_in + answer.tokens_out)
    (hold,) = world.holds()
    assert settings.max_tokens == 600  # houston's full cap: affordable
    assert hold.requested == pricing().cost(answer.tokens_in + 600) > used
    assert hold.status is HoldStatus.CAPTURED and hold.captured == used == exchange.credits_charged
    assert world.charges() == [used]
    assert exchange.balance.balance == 1000 - used and exchange.balance.held == 0
    assert [m.role for m in world.messages(session.id)] == ["user", "assistant"]
    assert answer.settled and answer.content == world.model.text and answer.model == "fake-model"


def test_the_coach_is_prompted_with_active_goals_and_open_todos_only(world: World) -> None:
    session = world.session()
    workspace_id = session.workspace_id
    world.coaching.create_goal(ADA, workspace_id, {"title": "Ship v1", "progress": 40})
    world.coaching.create_goal(ADA, workspace_id, {"title": "Old goal", "status": "done"})
    world.coaching.create_todo(ADA, workspace_id, {"title": "Write docs", "status": "in_progress"})
    world.coaching.create_todo(ADA, workspace_id, {"title": "Finished thing", "status": "done"})
    world.coaching.send_message(ADA, session.id, "Hi")

    system = world.model.calls[0][0][0]
    assert system.role == "system" and system.content.startswith("You are Houston")
    assert "- Ship v1 [progress 40%]" in system.content and "- Write docs [in_progress]" in system.content
    assert "Old goal" not in system.content and "Finished thing" not in system.content


def test_a_model_failure_voids_the_hold_and_stores_nothing(world: World) -> None:
    session = world.session()
    world.model.fail = True
    with pytest.raises(CoachUnavailable):
        world.coaching.send_message(ADA, session.id, "Hello?")
    (hold,) = world.holds()
    assert hold.status is HoldStatus.VOIDED
    assert world.charges() == [] and world.ledger.balance(ADA).available == 1000
    assert world.messages(session.id) == []


def test_without_credits_for_the_smallest_reply_it_is_402_and_the_model_is_never_called() -> None:
    world = World(credits=1)  # 1 credit: less than base + the prompt + 64 reply tokens
    session = world.session()
    with pytest.raises(InsufficientCredits) as refused:
        world.coaching.send_message(ADA, session.id, "Help")
    assert refused.value.details["available"] == 1
    assert world.model.calls == [] and world.holds() == [] and world.messages(session.id) == []


def test_the_reply_cap_shrinks_to_what_the_caller_can_afford() -> None:
    world = World(credits=5)  # the full 600-token cap would cost 1 + ceil(10 * ~0.7) = 8
    session = world.session()
    world.model.tokens_out = 10_000  # the model uses whatever cap it is given
    exchange = world.coaching.send_message(ADA, session.id, "Plan my week")

    settings = world.model.calls[0][1]
    assert 64 <= settings.max_tokens < 600
    (hold,) = world.holds()
    assert hold.requested <= 5 and pricing().cost(exchange.assistant_message.tokens_in + settings.max_tokens + 1) > 5
    assert exchange.credits_charged <= hold.requested and world.ledger.balance(ADA).balance >= 0


def test_an_idempotent_retry_returns_the_first_answer_and_charges_once(world: World) -> None:
    session = world.session()
    first = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")
    again = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")
    assert again.replayed and again.user_message.id == first.user_message.id
    assert again.assistant_message.id == first.assistant_message.id and again.balance == first.balance
    assert len(world.model.calls) == 1 and world.charges() == [first.credits_charged]
    with pytest.raises(IdempotencyConflict):
        world.coaching.send_message(ADA, session.id, "Something else", idempotency_key="k-1")
    # Another user's identical key is their own.
    bob = world.session(BOB)
    assert not world.coaching.send_message(BOB, bob.id, "Hi", idempotency_key="k-1").replayed


def test_a_fresh_key_is_claimed_without_looking_up_a_first_exchange(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25: the claim's INSERT is the only idempotency statement of a new message (JSON and
    streamed); the first exchange is looked up only when the claim finds the key taken."""
    from adapters.memory.coaching import InMemoryCoachingRepository

    lookups: list[str] = []
    original = InMemoryCoachingRepository.get_message_by_key

    def spy(self: InMemoryCoachingRepository, idempotency_key: str) -> Message | None:
        lookups.append(idempotency_key)
        return original(self, idempotency_key)

    monkeypatch.setattr(InMemoryCoachingRepository, "get_message_by_key", spy)
    session = world.session()
    first = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")
    list(world.coaching.stream_message(ADA, session.id, "Again", idempotency_key="k-2"))
    assert lookups == []
    again = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")  # the claim is taken
    assert again.replayed and again.assistant_message.id == first.assistant_message.id and len(lookups) == 1


def test_a_retry_after_a_model_failure_calls_the_model_again(world: World) -> None:
    session = world.session()
    world.model.fail = True
    with pytest.raises(CoachUnavailable):
        world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-2")
    world.model.fail = False
    exchange = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-2")
    assert not exchange.replayed and world.charges() == [exchange.credits_charged]


def test_at_most_200_messages_of_history_reach_the_model_older_ones_are_dropped(world: World) -> None:
    session = world.session()
    with world.uow() as uow:
        for seq in range(1, 251):
            uow.coaching.add_message(
                Message(
                    id=f"old-{seq:03d}",
                    session_id=session.id,
                    seq=seq,
                    role="user" if seq % 2 else "assistant",
                    content=f"m{seq}",
                    created_at=T0,
                )
            )
        stored = uow.coaching.get_session(session.id)
        uow.coaching.update_session(replace(stored, message_count=250))
        uow.commit()
    world.coaching.send_message(ADA, session.id, "And now?")
    sent = world.model.calls[0][0]
    assert len(sent) == 1 + HISTORY_MAX + 1
    assert [m.content for m in sent[1:3]] == ["m51", "m52"] and sent[-2].content == "m250"
    assert sent[-1].content == "And now?"


def test_a_crash_while_capturing_stores_nothing_the_answer_is_never_stored_unsettled(world: World) -> None:
    session = world.session()
    world.ledger.crash_next_capture = True  # inside the transaction that stores the answer
    with pytest.raises(RuntimeError):
        world.coaching.send_message(ADA, session.id, "Hi")
    assert world.messages(session.id) == [] and world.charges() == []
    assert world.ledger.balance(ADA).held == 0  # the request saw the crash and voided its hold


def test_a_process_that_dies_between_holding_and_storing_leaves_a_hold_the_ledger_releases(world: World) -> None:
    session = world.session()
    world.ledger.crash_next_capture = world.ledger.crash_next_void = True  # dies before it can void
    with pytest.raises(RuntimeError):
        world.coaching.send_message(ADA, session.id, "Hi")
    assert world.messages(session.id) == [] and world.ledger.balance(ADA).held > 0

    world.clock.advance(seconds=world.coaching.config.chat_hold_ttl + 1)
    world.ledger.release_expired_holds()
    assert world.ledger.balance(ADA).held == 0 and world.charges() == []


def test_an_answer_stored_without_its_capture_is_settled_by_the_sweep(world: World) -> None:
    session = world.session()
    stored = store_uncaptured(world.uow, world.ledger, ADA, session.id, price=7, at=T0)

    world.clock.advance(seconds=61)
    assert world.coaching.sweep().settled_messages == 1
    assert world.charges() == [stored.credits_charged] and world.ledger.balance(ADA).held == 0
    assert world.messages(session.id)[1].settled
    assert world.coaching.sweep().settled_messages == 0


def test_a_hold_that_expired_while_the_model_ran_stores_the_answer_free_and_once(world: World) -> None:
    session = world.session()
    reply = world.model.reply

    def slow_reply(*args: Any) -> Any:
        world.clock.advance(seconds=world.coaching.config.chat_hold_ttl + 1)  # the model outlives the hold
        return reply(*args)

    world.model.reply = slow_reply  # type: ignore[method-assign]
    world.ledger.balance_unavailable = 1  # and the balance read after storing finds the database gone

    exchange = world.coaching.send_message(ADA, session.id, "Hi")

    assert [m.role for m in world.messages(session.id)] == ["user", "assistant"]  # stored once, not retried
    assert exchange.credits_charged == 0 and world.charges() == [] and world.ledger.balance(ADA).held == 0
    assert exchange.balance.available == 1000


def test_a_first_transaction_that_meets_contention_runs_again_and_charges_once(world: World) -> None:
    session = world.session()
    world.ledger.contended_holds = 2  # a deadlock (or a Galera conflict) twice: nothing committed

    exchange = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")

    assert len(world.holds()) == 1 and world.charges() == [exchange.credits_charged]
    assert world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1").replayed


class CountingUnits:
    """The world's unit-of-work factory, counting the units opened and the commits."""

    def __init__(self, world: World) -> None:
        self.real, self.units, self.commits = world.uow, 0, 0
        world.coaching_uow = self

    def __call__(self) -> Any:
        unit = self.real()
        self.units += 1
        commit = unit.commit

        def counted() -> None:
            self.commits += 1
            commit()

        unit.commit = counted
        return unit


class ContendedCommits:
    """The world's unit-of-work factory, whose commits fail every other time with contention (a
    deadlock, a Galera certification conflict): nothing is committed then, and the next try passes."""

    def __init__(self, world: World) -> None:
        self.real, self.tries, self.refused = world.uow, 0, 0
        world.coaching_uow = self

    def __call__(self) -> Any:
        unit = self.real()
        commit = unit.commit

        def contended() -> None:
            self.tries += 1
            if self.tries % 2:
                self.refused += 1
                raise TransientError("Deadlock found when trying to get lock; try restarting transaction")
            commit()

        unit.commit = contended
        return unit


def test_every_coaching_write_that_meets_contention_runs_again_and_is_applied_once(world: World) -> None:
    """Issue 26 §3: a coaching use case's transaction is `transaction(...)`'s, retried like every
    other area's (before, the first deadlock was the caller's 500)."""
    contention = ContendedCommits(world)

    ws = world.coaching.create_workspace(ADA, name="Acme").id
    goal = world.coaching.create_goal(ADA, ws, {"title": "Grow"})
    world.coaching.update_goal(ADA, goal.id, {"progress": 40})
    todo = world.coaching.create_todo(ADA, ws, {"title": "Call", "goal_id": goal.id})
    world.coaching.update_todo(ADA, todo.id, {"status": "done"})
    session = world.coaching.create_session(ADA, ws)
    done = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1")
    assert world.coaching.run_task(done.id) is TaskStatus.SUCCEEDED  # start, finish, settle: three transactions
    dropped = world.coaching.create_task(ADA, type="weekly_review", workspace_id=ws, input={})
    world.coaching.cancel_task(ADA, dropped.id)

    assert contention.refused == 12 and contention.tries == 24  # each write refused once, then committed once
    assert [w.id for w in world.coaching.list_workspaces(ADA).items] == [ws]
    assert [(g.id, g.progress) for g in world.coaching.list_goals(ADA, ws).items] == [(goal.id, 40)]
    assert [(t.id, t.status.value) for t in world.coaching.list_todos(ADA, ws).items] == [(todo.id, "done")]
    assert [s.id for s in world.coaching.list_sessions(ADA, ws).items] == [session.id]
    assert [t.status for t in world.coaching.list_tasks(ADA).items] == [TaskStatus.CANCELLED, TaskStatus.SUCCEEDED]
    assert world.coaching.get_task(ADA, done.id).settled
    assert [j.name for j in world.queue.jobs if j.name == "coaching.run_task"] == ["coaching.run_task"] * 2
    assert world.charges() == [25] and world.ledger.balance(ADA).held == 0 and len(world.holds()) == 2
    assert (
        world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1").id == done.id
    )

    world.coaching.delete_session(ADA, session.id)
    world.coaching.delete_workspace(ADA, ws)
    assert world.coaching.list_workspaces(ADA).items == [] and contention.refused == 14


def test_a_message_is_two_transactions_around_the_model_call(world: World) -> None:
    session = world.session()
    counting = CountingUnits(world)

    exchange = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")

    # claim + checks + context + hold; then the model; then store + capture + settle
    assert (counting.units, counting.commits) == (2, 2)
    assert exchange.assistant_message.settled and world.charges() == [exchange.credits_charged]
    assert exchange.balance.balance == 1000 - exchange.credits_charged and exchange.balance.held == 0


def test_a_refused_message_leaves_its_key_free_without_a_transaction_to_release_it(world: World) -> None:
    session = world.session()
    world.ledger.adjust(ADA, amount=-1000, reason="empty", actor="test", idempotency_key="empty")
    counting = CountingUnits(world)
    with pytest.raises(InsufficientCredits):
        world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")
    assert (counting.units, counting.commits) == (1, 0)  # the claim rolled back with the refused hold
    world.ledger.grant(ADA, source="promo", amount=1000, idempotency_key="refill")

    exchange = world.coaching.send_message(ADA, session.id, "Hi", idempotency_key="k-1")

    assert world.charges() == [exchange.credits_charged] and not exchange.replayed


# --- streaming ---------------------------------------------------------------------------------------
def test_a_stream_read_to_its_end_sends_deltas_then_one_done_and_charges_like_a_message(world: World) -> None:
    session = world.session()
    events = list(world.coaching.stream_message(ADA, session.id, "Go"))
    deltas, done = events[:-1], events[-1]
    assert all(isinstance(e, Delta) for e in deltas) and isinstance(done, Done)
    assert "".join(e.text for e in deltas) == world.model.text == done.exchange.assistant_message.content
    assert world.charges() == [done.exchange.credits_charged] and world.ledger.balance(ADA).held == 0


def test_a_stream_abandoned_half_way_charges_the_prompt_and_streamed_tokens_and_keeps_the_partial_reply(
    world: World,
) -> None:
    session = world.session()
    world.model.text = " ".join(f"word{n}" for n in range(40))
    stream = world.coaching.stream_message(ADA, session.id, "Go")
    received = [next(stream) for _ in range(5)]
    stream.close()  # what the WSGI server does when the client goes away

    partial = "".join(e.text for e in received)
    answer = world.messages(session.id)[1]
    assert answer.content == partial and answer.cut_short and answer.settled
    assert answer.tokens_out < 40 and answer.credits_charged == pricing().cost(answer.tokens_in + answer.tokens_out)
    assert world.charges() == [answer.credits_charged]
    assert world.ledger.balance(ADA).held == 0 and world.model.closed == 1


def test_a_stream_closed_before_any_text_voids_the_hold(world: World) -> None:
    session = world.session()
    stream = world.coaching.stream_message(ADA, session.id, "Go")
    stream.close()
    assert world.charges() == [] and world.ledger.balance(ADA).held == 0 and world.messages(session.id) == []


def test_a_model_failure_before_any_text_is_an_error_event_with_nothing_charged(world: World) -> None:
    session = world.session()
    world.model.fail = True
    events = list(world.coaching.stream_message(ADA, session.id, "Go"))
    assert len(events) == 1 and isinstance(events[0], Failed) and events[0].code == "llm_unavailable"
    assert world.charges() == [] and world.ledger.balance(ADA).held == 0 and world.messages(session.id) == []


def test_a_stream_that_breaks_after_some_text_keeps_and_charges_that_text(world: World) -> None:
    session = world.session()
    world.model.fail_after_chunks = 3
    events = list(world.coaching.stream_message(ADA, session.id, "Go"))
    assert isinstance(events[-1], Done) and events[-1].exchange.assistant_message.cut_short
    assert world.charges() == [events[-1].exchange.credits_charged]


# --- access, limits, lists ------------------------------------------------------------------------
def test_another_users_workspace_and_everything_in_it_is_not_found(world: World) -> None:
    session = world.session()
    ws = session.workspace_id
    goal = world.coaching.create_goal(ADA, ws, {"title": "G"})
    todo = world.coaching.create_todo(ADA, ws, {"title": "T"})
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    c = world.coaching
    calls = [
        lambda: c.get_workspace(BOB, ws),
        lambda: c.update_workspace(BOB, ws, {"name": "x"}),
        lambda: c.delete_workspace(BOB, ws),
        lambda: c.list_goals(BOB, ws),
        lambda: c.create_goal(BOB, ws, {"title": "x"}),
        lambda: c.get_goal(BOB, goal.id),
        lambda: c.update_goal(BOB, goal.id, {"progress": 5}),
        lambda: c.delete_goal(BOB, goal.id),
        lambda: c.list_todos(BOB, ws),
        lambda: c.create_todo(BOB, ws, {"title": "x"}),
        lambda: c.get_todo(BOB, todo.id),
        lambda: c.update_todo(BOB, todo.id, {"title": "x"}),
        lambda: c.delete_todo(BOB, todo.id),
        lambda: c.list_sessions(BOB, ws),
        lambda: c.create_session(BOB, ws),
        lambda: c.get_session(BOB, session.id),
        lambda: c.delete_session(BOB, session.id),
        lambda: c.send_message(BOB, session.id, "hi"),
        lambda: c.stream_message(BOB, session.id, "hi"),
        lambda: c.create_task(BOB, type="strategy", workspace_id=ws, input={}),
        lambda: c.get_task(BOB, task.id),
        lambda: c.cancel_task(BOB, task.id),
    ]
    for call in calls:
        with pytest.raises(WorkspaceNotFound):
            call()
    assert c.list_workspaces(BOB).items == [] and c.list_tasks(BOB).items == []
    assert world.ledger.balance(BOB).held == 0 and world.model.calls == []
    assert c.get_goal(ADA, goal.id).progress == 0 and c.get_task(ADA, task.id).status is TaskStatus.QUEUED


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c, s: c.send_message(ADA, s.id, "x" * 8001), "content"),
        (lambda c, s: c.send_message(ADA, s.id, ""), "content"),
        (lambda c, s: c.create_workspace(ADA, name="n" * 201), "name"),
        (lambda c, s: c.create_goal(ADA, s.workspace_id, {"title": "t" * 201}), "title"),
        (lambda c, s: c.create_goal(ADA, s.workspace_id, {"title": "t", "progress": 101}), "progress"),
        (lambda c, s: c.create_todo(ADA, s.workspace_id, {"title": "t" * 201}), "title"),
        (lambda c, s: c.create_todo(ADA, s.workspace_id, {"title": "t", "goal_id": "gol_nope"}), "goal_id"),
        (lambda c, s: c.create_session(ADA, s.workspace_id, title="t" * 201), "title"),
        (lambda c, s: c.create_session(ADA, s.workspace_id, coach="nobody"), "coach"),
        (lambda c, s: c.create_task(ADA, type="poem", workspace_id=s.workspace_id, input={}), "type"),
        (
            lambda c, s: c.create_task(ADA, type="strategy", workspace_id=s.workspace_id, input={"n": "x" * 8001}),
            "input",
        ),
    ],
)
def test_over_limit_input_is_refused_naming_the_field(world: World, call: Any, field: str) -> None:
    session = world.session()
    with pytest.raises(InvalidInput) as refused:
        call(world.coaching, session)
    assert field in refused.value.details
    assert world.model.calls == [] and world.ledger.balance(ADA).held == 0


def test_lists_are_keyset_pages_with_their_filters(world: World) -> None:
    ws = world.coaching.create_workspace(ADA, name="W").id
    goal = world.coaching.create_goal(ADA, ws, {"title": "G"})
    made = [
        world.coaching.create_todo(
            ADA, ws, {"title": f"t{n}", "status": "done" if n % 2 else "open", "goal_id": goal.id if n < 3 else None}
        )
        for n in range(5)
    ]
    seen, cursor = [], None
    while True:
        page = world.coaching.list_todos(ADA, ws, limit=2, cursor=cursor)
        seen += [t.id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [t.id for t in reversed(made)]
    assert {t.title for t in world.coaching.list_todos(ADA, ws, status="open").items} == {"t0", "t2", "t4"}
    assert {t.title for t in world.coaching.list_todos(ADA, ws, goal_id=goal.id).items} == {"t0", "t1", "t2"}
    assert {t.title for t in world.coaching.list_todos(ADA, ws, status="done", goal_id=goal.id).items} == {"t1"}


def test_deleting_a_workspace_deletes_what_is_in_it_and_releases_its_tasks_holds(world: World) -> None:
    session = world.session()
    ws = session.workspace_id
    goal = world.coaching.create_goal(ADA, ws, {"title": "G"})
    world.coaching.send_message(ADA, session.id, "hi")
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    assert world.ledger.balance(ADA).held == 25

    world.coaching.delete_workspace(ADA, ws)
    assert world.ledger.balance(ADA).held == 0
    for call in (
        lambda: world.coaching.get_goal(ADA, goal.id),
        lambda: world.coaching.get_session(ADA, session.id),
        lambda: world.coaching.get_task(ADA, task.id),
    ):
        with pytest.raises(WorkspaceNotFound):
            call()
    with world.uow():
        assert all(not world.uow.store.table(t) for t in ("coaching_goals", "coaching_messages", "coaching_tasks"))


# --- tasks ---------------------------------------------------------------------------------------
def test_a_task_holds_its_price_and_the_worker_captures_it_on_success(world: World) -> None:
    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={"notes": "launch"})
    assert (task.status, task.credits_held, world.ledger.balance(ADA).held) == (TaskStatus.QUEUED, 25, 25)
    assert [(j.name, dict(j.payload)) for j in world.queue.jobs] == [("coaching.run_task", {"task_id": task.id})]

    assert world.coaching.run_task(task.id) is TaskStatus.SUCCEEDED
    done = world.coaching.get_task(ADA, task.id)
    assert done.result == world.model.text and done.credits_charged == 25 and done.settled
    assert world.charges() == [25] and world.ledger.balance(ADA).held == 0
    assert "launch" in world.model.calls[0][0][-1].content
    assert world.coaching.run_task(task.id) is None and world.charges() == [25]  # a duplicate delivery


def test_a_task_and_a_chat_list_the_goals_soonest_due_first(world: World) -> None:
    session = world.session()
    ws = session.workspace_id
    world.coaching.create_goal(ADA, ws, {"title": "Sooner", "due_date": date(2026, 3, 1)})
    world.coaching.create_goal(ADA, ws, {"title": "Later", "due_date": date(2026, 9, 1)})  # newer: listed first
    world.coaching.send_message(ADA, session.id, "Hi")
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    world.coaching.run_task(task.id)

    for messages, _settings in world.model.calls:
        system = messages[0].content
        assert system.index("- Sooner") < system.index("- Later")


def test_a_failed_task_releases_its_hold(world: World) -> None:
    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="weekly_review", workspace_id=ws, input={})
    world.model.fail = True
    assert world.coaching.run_task(task.id) is TaskStatus.FAILED
    failed = world.coaching.get_task(ADA, task.id)
    assert failed.error and failed.error.startswith("llm_unavailable") and failed.credits_charged == 0
    assert world.charges() == [] and world.ledger.balance(ADA).held == 0


def test_a_cancelled_task_releases_its_hold_and_never_runs(world: World) -> None:
    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    assert world.coaching.cancel_task(ADA, task.id).status is TaskStatus.CANCELLED
    assert world.ledger.balance(ADA).held == 0
    assert world.coaching.cancel_task(ADA, task.id).status is TaskStatus.CANCELLED  # again: no change
    assert world.coaching.run_task(task.id) is None and world.model.calls == [] and world.charges() == []


def test_a_finished_task_cannot_be_cancelled(world: World) -> None:
    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    world.coaching.run_task(task.id)
    with pytest.raises(TaskNotCancellable):
        world.coaching.cancel_task(ADA, task.id)
    assert world.charges() == [25]


def test_the_sweep_fails_a_task_stuck_running_and_releases_its_hold(world: World) -> None:
    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    world.coaching.tasks.start(task.id)  # a worker took it, then died
    world.clock.advance(seconds=599)
    assert world.coaching.sweep().failed == 0
    world.clock.advance(seconds=2)
    assert world.coaching.sweep().failed == 1
    swept = world.coaching.get_task(ADA, task.id)
    assert swept.status is TaskStatus.FAILED and swept.error and swept.error.startswith("timed_out")
    assert world.ledger.balance(ADA).held == 0 and world.charges() == []


def test_a_task_asked_for_twice_with_one_idempotency_key_is_held_once(world: World) -> None:
    ws = world.session().workspace_id
    first = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1")
    again = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1")
    assert again == first and world.ledger.balance(ADA).held == 25
    world.coaching.run_task(first.id)
    assert world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1") == first
    assert world.charges() == [25]
    with pytest.raises(IdempotencyConflict):
        world.coaching.create_task(ADA, type="weekly_review", workspace_id=ws, input={}, idempotency_key="t-1")


def test_a_task_key_stored_concurrently_is_a_duplicate_never_retried_the_first_task_replayed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = world.session().workspace_id
    first = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1")
    real, looked = TaskUseCases._replay_task, []

    def replay(self: TaskUseCases, *args: Any) -> Any:  # the second request looks before the first commits
        looked.append(args)
        return None if len(looked) == 1 else real(self, *args)

    monkeypatch.setattr(TaskUseCases, "_replay_task", replay)
    counting = CountingUnits(world)

    again = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={}, idempotency_key="t-1")

    assert again == first and world.ledger.balance(ADA).held == 25  # the second hold voided
    assert (counting.units, counting.commits) == (3, 0)  # read; store (refused once, not rerun); replay
    assert [t.id for t in world.coaching.list_tasks(ADA).items] == [first.id]


def test_a_task_the_caller_cannot_afford_is_402_and_not_queued() -> None:
    world = World(credits=10)
    ws = world.session().workspace_id
    with pytest.raises(InsufficientCredits):
        world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    assert world.queue.jobs == [] and world.coaching.list_tasks(ADA).items == []


def test_a_coach_with_a_price_multiplier_costs_more() -> None:
    world = World()
    world.coaching.coaches["pricey"] = Coach("pricey", "P", "", "You are Pricey.", None, 0.1, 600, 2.0)
    dear = world.coaching.send_message(ADA, world.session(coach="pricey").id, "Hi")
    tokens = dear.assistant_message.tokens_in + dear.assistant_message.tokens_out
    assert dear.credits_charged == pricing().cost(tokens, Fraction(2)) == -(-2 * (1000 + 10 * tokens) // 1000)
    assert dear.credits_charged > pricing().cost(tokens)


def test_one_broken_task_does_not_stop_the_sweep_which_then_fails_visibly(world: World) -> None:
    from domain.ledger.errors import SweepIncomplete

    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    with world.uow() as uow:
        ghost = replace(
            uow.coaching.get_task(task.id),
            id="tsk_0",
            owner_id="usr_ghost",
            payer_id="usr_ghost",
            hold_id="hld_x",
            idempotency_key=None,
        )
        uow.coaching.add_task(ghost)  # its payer has no account: releasing its hold fails
        uow.commit()
    world.clock.advance(seconds=3601)
    with pytest.raises(SweepIncomplete) as incomplete:
        world.coaching.sweep()
    assert incomplete.value.details["failed"] == ["tsk_0"]
    assert world.coaching.get_task(ADA, task.id).status is TaskStatus.FAILED
    assert world.ledger.balance(ADA).held == 0


def test_a_stream_whose_storing_crashes_charges_what_was_sent_once_and_stores_nothing(world: World) -> None:
    session = world.session()
    world.ledger.crash_next_capture = True  # the transaction storing and capturing dies: neither stands
    stream = world.coaching.stream_message(ADA, session.id, "Go")
    with pytest.raises(RuntimeError):
        list(stream)
    assert world.messages(session.id) == []  # not stored, neither once nor twice
    (hold,) = world.holds()
    assert hold.status is HoldStatus.CAPTURED  # the text was sent: charged anyway (defect 1)
    assert world.charges() == [hold.captured] and world.ledger.balance(ADA).held == 0
    world.clock.advance(seconds=61)
    world.coaching.sweep()
    assert world.charges() == [hold.captured]


def test_a_task_whose_capture_crashes_is_charged_once_by_the_sweep(world: World) -> None:
    ws = world.session().workspace_id
    task = world.coaching.create_task(ADA, type="strategy", workspace_id=ws, input={})
    world.ledger.crash_next_capture = True
    with pytest.raises(RuntimeError):
        world.coaching.run_task(task.id)
    stored = world.coaching.get_task(ADA, task.id)
    assert stored.status is TaskStatus.SUCCEEDED and not stored.settled and world.charges() == []
    assert world.coaching.run_task(task.id) is None  # the job's retry does not run it again

    world.clock.advance(seconds=59)
    assert world.coaching.sweep().settled_tasks == 0
    world.clock.advance(seconds=2)
    assert world.coaching.sweep().settled_tasks == 1
    settled = world.coaching.get_task(ADA, task.id)
    assert settled.settled and settled.credits_charged == 25
    assert world.charges() == [25] and world.ledger.balance(ADA).held == 0
    assert world.coaching.sweep().settled_tasks == 0 and world.charges() == [25]  # settled once
