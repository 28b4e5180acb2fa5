"""The coaching repository contract, and the chat use cases, on memory, SQLite and MariaDB.

Storage comes from the root `make_container` fixture (parametrised over the backends; MariaDB
runs when TEST_MYSQL_URL is set). Rows carry unique ids, so a shared database needs no cleanup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.coaching.model import (
    ChatSession,
    Goal,
    GoalBrief,
    GoalStatus,
    Message,
    Task,
    TaskStatus,
    Todo,
    TodoBrief,
    TodoStatus,
    Turn,
    Workspace,
)
from domain.shared.errors import DuplicateRecord
from entrypoints.bootstrap import Container
from tests.fixtures.llm import FakeCoach
from tests.fixtures.settings import T0, unique

NOW = T0.replace(microsecond=654321)  # microseconds must survive the round trip


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container(queue=RecordingJobQueue(), coach_model=FakeCoach(text="one two three four five six"))


def new_user(container: Container) -> str:
    return container.identity.register(f"{unique('u')}@example.com", "correct horse battery").user.id


def seeded(container: Container) -> dict[str, Any]:
    """One workspace with a goal, a todo, a session with two messages and a task, stored directly."""
    owner = new_user(container)
    ws = Workspace(unique("wsp"), owner, "Acme", NOW, NOW, industry="saas", description="Ünïcode ✓ " * 3)
    goal = Goal(
        unique("gol"),
        ws.id,
        "Ship",
        GoalStatus.ACTIVE,
        40,
        NOW,
        NOW,
        specific="s",
        measurable="m",
        target_value="10",
        achievable="a",
        relevant="r",
        due_date=date(2026, 3, 1),
    )
    todo = Todo(
        unique("tdo"), ws.id, "Docs", TodoStatus.IN_PROGRESS, NOW, NOW, goal_id=goal.id, due_date=date(2026, 2, 1)
    )
    session = ChatSession(unique("chs"), ws.id, owner, "Monday", "houston", NOW, NOW, message_count=2)
    ask = Message(
        unique("msg"),
        session.id,
        1,
        "user",
        "Hi",
        NOW,
        idempotency_key=unique("k").ljust(64, "0"),
        fingerprint="f" * 64,
        account_id=owner,
    )
    answer = Message(
        unique("msg"),
        session.id,
        2,
        "assistant",
        "Hello",
        NOW,
        tokens_in=10,
        tokens_out=2,
        credits_charged=3,
        model="m",
        cut_short=True,
        hold_id=None,
        settled=False,
        account_id=owner,
    )
    task = Task(
        unique("tsk"),
        owner,
        ws.id,
        "strategy",
        {"notes": "ünï", "n": [1, 2]},
        TaskStatus.QUEUED,
        25,
        NOW,
        NOW,
        hold_id=None,
        idempotency_key=unique("t").ljust(64, "0"),
        fingerprint="e" * 64,
    )
    with container.uow() as uow:
        repo = uow.coaching
        repo.add_workspace(ws)
        repo.add_goal(goal)
        repo.add_todo(todo)
        repo.add_session(session)
        repo.add_message(ask)
        repo.add_message(answer)
        repo.add_task(task)
        uow.commit()
    return {
        "owner": owner,
        "ws": ws,
        "goal": goal,
        "todo": todo,
        "session": session,
        "ask": ask,
        "answer": answer,
        "task": task,
    }


def test_every_entity_survives_the_round_trip_field_for_field(container: Container) -> None:
    rows = seeded(container)
    with container.uow() as uow:
        repo = uow.coaching
        assert repo.get_workspace(rows["ws"].id) == rows["ws"]
        assert repo.get_goal(rows["goal"].id) == rows["goal"]
        assert repo.get_todo(rows["todo"].id) == rows["todo"]
        assert repo.get_session(rows["session"].id) == rows["session"]
        assert repo.get_session_for_update(rows["session"].id) == rows["session"]
        assert repo.get_session_with_workspace(rows["session"].id) == (rows["session"], rows["ws"])
        assert repo.get_session_with_workspace(unique("chs")) is None
        assert repo.list_messages(rows["session"].id, limit=10, after_seq=None) == [rows["ask"], rows["answer"]]
        assert repo.get_message_by_key(rows["ask"].idempotency_key) == rows["ask"]
        assert repo.get_message_by_seq(rows["session"].id, 2) == rows["answer"]
        assert repo.get_task(rows["task"].id) == rows["task"]
        assert repo.get_task_by_key(rows["task"].idempotency_key) == rows["task"]


def test_updates_are_stored_and_nothing_is_kept_without_a_commit(container: Container) -> None:
    rows = seeded(container)
    goal = replace(rows["goal"], progress=90, status=GoalStatus.DONE, due_date=None)
    task = replace(rows["task"], status=TaskStatus.SUCCEEDED, result="plan", finished_at=NOW, settled=False)
    with container.uow() as uow:
        uow.coaching.update_goal(goal)
        uow.coaching.update_task(task)
        uow.commit()
    with container.uow() as uow:
        uow.coaching.update_goal(replace(goal, progress=1))  # rolled back: no commit
    with container.uow() as uow:
        assert uow.coaching.get_goal(goal.id) == goal and uow.coaching.get_task(task.id) == task


def test_a_second_message_with_the_same_key_or_seq_is_a_duplicate(container: Container) -> None:
    rows = seeded(container)
    for clash in (
        replace(rows["ask"], id=unique("msg"), seq=3),
        replace(rows["ask"], id=unique("msg"), idempotency_key=None),
    ):
        with container.uow() as uow, pytest.raises(DuplicateRecord):
            uow.coaching.add_message(clash)
    with container.uow() as uow, pytest.raises(DuplicateRecord):
        uow.coaching.add_task(replace(rows["task"], id=unique("tsk")))


def test_an_exchange_is_stored_by_one_call_and_a_clash_refuses_it(container: Container) -> None:
    rows = seeded(container)
    session = rows["session"].id
    pair = [
        replace(rows["ask"], id=unique("msg"), seq=3, idempotency_key=unique("k").ljust(64, "0")),
        replace(rows["answer"], id=unique("msg"), seq=4, settled=True),
    ]
    with container.uow() as uow:
        uow.coaching.add_messages(pair)
        uow.commit()
    with container.uow() as uow:
        assert uow.coaching.list_messages(session, limit=10, after_seq=2) == pair
    clash = [replace(pair[0], id=unique("msg"), seq=5, idempotency_key=None), replace(pair[1], id=unique("msg"))]
    with container.uow() as uow, pytest.raises(DuplicateRecord):
        uow.coaching.add_messages(clash)  # the second has seq 4 again
    with container.uow() as uow:
        assert uow.coaching.list_messages(session, limit=10, after_seq=2) == pair


def test_lists_are_newest_first_pages_with_filters(container: Container) -> None:
    rows = seeded(container)
    ws = rows["ws"].id
    todos = [
        Todo(f"tdo_{unique('x')}_{n}", ws, f"t{n}", TodoStatus.DONE if n % 2 else TodoStatus.OPEN, NOW, NOW)
        for n in range(4)
    ]
    todos.sort(key=lambda t: t.id)
    with container.uow() as uow:
        for todo in todos:
            uow.coaching.add_todo(todo)
        uow.commit()
    with container.uow() as uow:
        repo = uow.coaching
        everything = repo.list_todos(ws, limit=10, before=None)
        assert [t.id for t in everything] == sorted([t.id for t in todos] + [rows["todo"].id], reverse=True)
        first = repo.list_todos(ws, limit=2, before=None)
        assert [t.id for t in repo.list_todos(ws, limit=10, before=first[-1].id)] == [t.id for t in everything[2:]]
        assert {t.title for t in repo.list_todos(ws, limit=10, before=None, statuses=[TodoStatus.DONE])} == {"t1", "t3"}
        assert [t.id for t in repo.list_todos(ws, limit=10, before=None, goal_id=rows["goal"].id)] == [rows["todo"].id]
        assert repo.list_goals(ws, limit=10, before=None, status=GoalStatus.DONE) == []
        assert [w.id for w in repo.list_workspaces(rows["owner"], limit=10, before=None)] == [ws]
        assert [s.id for s in repo.list_sessions(ws, limit=10, before=None)] == [rows["session"].id]
        assert [t.id for t in repo.list_tasks(rows["owner"], limit=10, before=None, status=TaskStatus.QUEUED)] == [
            rows["task"].id
        ]
        assert repo.recent_messages(rows["session"].id, 1) == [rows["answer"]]


def test_the_prompt_context_reads_give_exactly_what_the_prompt_shows(container: Container) -> None:
    rows = seeded(container)
    ws, goal, todo = rows["ws"].id, rows["goal"], rows["todo"]
    extra = [
        replace(goal, id=unique("gol"), status=GoalStatus.DONE),  # not active: left out
        replace(todo, id=unique("tdo"), status=TodoStatus.DONE),  # done: left out
        replace(todo, id=unique("tdo"), status=TodoStatus.OPEN, goal_id=None, due_date=None, title="Call"),
    ]
    with container.uow() as uow:
        uow.coaching.add_goal(extra[0])
        uow.coaching.add_todo(extra[1])
        uow.coaching.add_todo(extra[2])
        uow.commit()
    with container.uow() as uow:
        repo = uow.coaching
        assert repo.context_goals(ws, 10) == [
            GoalBrief(goal.id, "Ship", 40, NOW, "s", "m", "10", "a", "r", date(2026, 3, 1))
        ]
        briefs = [TodoBrief(t.id, t.title, t.status, NOW, t.goal_id, t.due_date) for t in (todo, extra[2])]
        assert repo.context_todos(ws, 10) == sorted(briefs, key=lambda t: t.id, reverse=True)
        assert len(repo.context_todos(ws, 1)) == 1
        assert repo.recent_turns(rows["session"].id, 10) == [Turn("user", "Hi"), Turn("assistant", "Hello")]
        assert repo.recent_turns(rows["session"].id, 1) == [Turn("assistant", "Hello")]


def test_the_sweeps_find_unsettled_answers_and_stuck_tasks(container: Container) -> None:
    rows = seeded(container)
    later = NOW + timedelta(seconds=1)
    running = replace(rows["task"], id=unique("tsk"), idempotency_key=None, status=TaskStatus.RUNNING, started_at=NOW)
    with container.uow() as uow:
        uow.coaching.add_task(running)
        uow.commit()
    with container.uow() as uow:
        repo = uow.coaching
        assert rows["answer"].id in [m.id for m in repo.unsettled_messages(later, 1000)]
        assert rows["answer"].id not in [m.id for m in repo.unsettled_messages(NOW - timedelta(seconds=1), 1000)]
        stuck = [t.id for t in repo.stuck_tasks(later, later, 1000)]
        assert running.id in stuck and rows["task"].id in stuck
        assert running.id not in [t.id for t in repo.stuck_tasks(NOW - timedelta(seconds=1), later, 1000)]


def test_deleting_a_workspace_deletes_everything_in_it(container: Container) -> None:
    rows = seeded(container)
    other = seeded(container)
    with container.uow() as uow:
        uow.coaching.delete_goal(rows["goal"].id)
        uow.commit()
    with container.uow() as uow:
        todo = uow.coaching.get_todo(rows["todo"].id)
        assert todo is not None and todo.goal_id is None
        uow.coaching.delete_workspace(rows["ws"].id)
        uow.commit()
    with container.uow() as uow:
        repo = uow.coaching
        assert repo.get_workspace(rows["ws"].id) is None and repo.get_todo(rows["todo"].id) is None
        assert repo.get_session(rows["session"].id) is None and repo.get_task(rows["task"].id) is None
        assert repo.get_message_by_key(rows["ask"].idempotency_key) is None
        assert repo.get_workspace(other["ws"].id) == other["ws"] and repo.get_task(other["task"].id) == other["task"]


# --- the use cases on each backend -----------------------------------------------------------------
def test_a_message_and_an_abandoned_stream_are_charged_and_stored_on_every_backend(container: Container) -> None:
    user = new_user(container)
    coaching = container.coaching
    session = coaching.create_session(user, coaching.create_workspace(user, name="W").id)
    exchange = coaching.send_message(user, session.id, "Hi", idempotency_key="same")
    assert (
        coaching.send_message(user, session.id, "Hi", idempotency_key="same").assistant_message
        == exchange.assistant_message
    )
    stream = coaching.stream_message(user, session.id, "Go")
    next(stream), next(stream)
    stream.close()

    messages = coaching.get_session(user, session.id).messages.items
    assert [m.seq for m in messages] == [1, 2, 3, 4] and messages[3].cut_short and messages[3].content == "one two "
    charged = [-e.amount for e in container.ledger.transactions(user, kind="charge").items]
    assert sorted(charged) == sorted([exchange.credits_charged, messages[3].credits_charged])
    view = container.ledger.balance(user)
    assert view.held == 0 and view.balance == 100 - sum(charged)
    assert container.ledger.check_invariants(user) == []
