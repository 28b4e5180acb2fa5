"""The in-memory coaching repository: dicts of copies, the same answers and refusals as SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from adapters.memory.store import MemoryStore
from domain.coaching.model import (
    ChatSession,
    Claim,
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
from domain.shared.errors import DuplicateRecord, NotFound

T = TypeVar("T")
WORKSPACES, GOALS, TODOS = "coaching_workspaces", "coaching_goals", "coaching_todos"
SESSIONS, MESSAGES, TASKS = "coaching_sessions", "coaching_messages", "coaching_tasks"
CLAIMS = "coaching_claims"
OPEN_TODOS = (TodoStatus.OPEN, TodoStatus.IN_PROGRESS)


def _newest_first(rows: Iterable[T], keep: Callable[[T], bool], limit: int, before: str | None) -> list[T]:
    chosen = [replace(r) for r in rows if keep(r) and (before is None or r.id < before)]  # type: ignore[attr-defined,type-var]
    chosen.sort(key=lambda r: r.id, reverse=True)  # type: ignore[attr-defined]
    return chosen[:limit]


class InMemoryCoachingRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    def _get(self, table: str, key: str) -> Any:
        found = self._t(table).get(key)
        return replace(found) if found is not None else None

    def _add(self, table: str, row: Any) -> None:
        if row.id in self._t(table):
            raise DuplicateRecord("The record already exists.")
        self._t(table)[row.id] = replace(row)

    def _update(self, table: str, row: Any) -> None:
        if row.id in self._t(table):
            self._t(table)[row.id] = replace(row)

    # workspaces
    def add_workspace(self, workspace: Workspace) -> None:
        self._add(WORKSPACES, workspace)

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self._get(WORKSPACES, workspace_id)  # type: ignore[no-any-return]

    def get_workspace_for_update(self, workspace_id: str) -> Workspace | None:
        return self.get_workspace(workspace_id)  # the unit of work already serialises writers

    def update_workspace(self, workspace: Workspace) -> None:
        self._update(WORKSPACES, workspace)

    def delete_workspace(self, workspace_id: str) -> None:
        sessions = [s.id for s in self._t(SESSIONS).values() if s.workspace_id == workspace_id]
        for session_id in sessions:
            self.delete_session(session_id)
        for table in (GOALS, TODOS, TASKS):
            rows = self._t(table)
            for key in [k for k, row in rows.items() if row.workspace_id == workspace_id]:
                del rows[key]
        self._t(WORKSPACES).pop(workspace_id, None)

    def list_workspaces(self, owner_id: str, *, limit: int, before: str | None) -> list[Workspace]:
        return _newest_first(self._t(WORKSPACES).values(), lambda w: w.owner_id == owner_id, limit, before)

    # goals
    def add_goal(self, goal: Goal) -> None:
        self._add(GOALS, goal)

    def get_goal(self, goal_id: str) -> Goal | None:
        return self._get(GOALS, goal_id)  # type: ignore[no-any-return]

    def update_goal(self, goal: Goal) -> None:
        self._update(GOALS, goal)

    def delete_goal(self, goal_id: str) -> None:
        for todo in self._t(TODOS).values():
            if todo.goal_id == goal_id:
                todo.goal_id = None
        self._t(GOALS).pop(goal_id, None)

    def list_goals(
        self, workspace_id: str, *, limit: int, before: str | None, status: GoalStatus | None = None
    ) -> list[Goal]:
        return _newest_first(
            self._t(GOALS).values(),
            lambda g: g.workspace_id == workspace_id and (status is None or g.status == status),
            limit,
            before,
        )

    # todos
    def add_todo(self, todo: Todo) -> None:
        self._add(TODOS, todo)

    def get_todo(self, todo_id: str) -> Todo | None:
        return self._get(TODOS, todo_id)  # type: ignore[no-any-return]

    def update_todo(self, todo: Todo) -> None:
        self._update(TODOS, todo)

    def delete_todo(self, todo_id: str) -> None:
        self._t(TODOS).pop(todo_id, None)

    def list_todos(
        self,
        workspace_id: str,
        *,
        limit: int,
        before: str | None,
        statuses: Sequence[TodoStatus] | None = None,
        goal_id: str | None = None,
    ) -> list[Todo]:
        def keep(t: Todo) -> bool:
            return (
                t.workspace_id == workspace_id
                and (statuses is None or t.status in statuses)
                and (goal_id is None or t.goal_id == goal_id)
            )

        return _newest_first(self._t(TODOS).values(), keep, limit, before)

    # sessions
    def add_session(self, session: ChatSession) -> None:
        self._add(SESSIONS, session)

    def get_session(self, session_id: str) -> ChatSession | None:
        return self._get(SESSIONS, session_id)  # type: ignore[no-any-return]

    def get_session_for_update(self, session_id: str) -> ChatSession | None:
        return self.get_session(session_id)  # the unit of work already serialises writers

    def get_session_with_workspace(self, session_id: str) -> tuple[ChatSession, Workspace] | None:
        session = self.get_session(session_id)
        workspace = self.get_workspace(session.workspace_id) if session is not None else None
        return (session, workspace) if session is not None and workspace is not None else None

    def update_session(self, session: ChatSession) -> None:
        self._update(SESSIONS, session)

    def delete_session(self, session_id: str) -> None:
        messages = self._t(MESSAGES)
        for key in [k for k, m in messages.items() if m.session_id == session_id]:
            del messages[key]
        self._t(SESSIONS).pop(session_id, None)

    def list_sessions(
        self, workspace_id: str, *, limit: int, before: str | None, owner_id: str | None = None
    ) -> list[ChatSession]:
        return _newest_first(
            self._t(SESSIONS).values(),
            lambda s: s.workspace_id == workspace_id and (owner_id is None or s.owner_id == owner_id),
            limit,
            before,
        )

    # messages
    def add_message(self, message: Message) -> None:
        if message.session_id not in self._t(SESSIONS):
            raise NotFound("What this refers to no longer exists (it was deleted meanwhile).")  # SQL's foreign key
        for other in self._t(MESSAGES).values():
            same_seq = other.session_id == message.session_id and other.seq == message.seq
            same_key = message.idempotency_key is not None and other.idempotency_key == message.idempotency_key
            if same_seq or same_key:
                raise DuplicateRecord("The record already exists.")
        self._add(MESSAGES, message)

    def add_messages(self, messages: Sequence[Message]) -> None:
        for message in messages:  # the unit of work rolls back the first if the second is refused
            self.add_message(message)

    def _messages(self, session_id: str) -> list[Message]:
        rows = [replace(m) for m in self._t(MESSAGES).values() if m.session_id == session_id]
        return sorted(rows, key=lambda m: m.seq)

    def list_messages(self, session_id: str, *, limit: int, after_seq: int | None) -> list[Message]:
        return [m for m in self._messages(session_id) if after_seq is None or m.seq > after_seq][:limit]

    def recent_messages(self, session_id: str, limit: int) -> list[Message]:
        return self._messages(session_id)[-limit:] if limit > 0 else []

    def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        return [Turn(m.role, m.content) for m in self.recent_messages(session_id, limit)]

    def context_goals(self, workspace_id: str, limit: int) -> list[GoalBrief]:
        return [
            GoalBrief(
                g.id,
                g.title,
                g.progress,
                g.created_at,
                g.specific,
                g.measurable,
                g.target_value,
                g.achievable,
                g.relevant,
                g.due_date,
            )
            for g in self.list_goals(workspace_id, limit=limit, before=None, status=GoalStatus.ACTIVE)
        ]

    def context_todos(self, workspace_id: str, limit: int) -> list[TodoBrief]:
        todos = self.list_todos(workspace_id, limit=limit, before=None, statuses=OPEN_TODOS)
        return [TodoBrief(t.id, t.title, t.status, t.created_at, t.goal_id, t.due_date) for t in todos]

    def get_message_by_key(self, idempotency_key: str) -> Message | None:
        found = next((m for m in self._t(MESSAGES).values() if m.idempotency_key == idempotency_key), None)
        return replace(found) if found is not None else None

    def get_message_by_seq(self, session_id: str, seq: int) -> Message | None:
        found = next((m for m in self._t(MESSAGES).values() if m.session_id == session_id and m.seq == seq), None)
        return replace(found) if found is not None else None

    def unsettled_messages(self, created_before: datetime, limit: int) -> list[Message]:
        rows = [replace(m) for m in self._t(MESSAGES).values() if not m.settled and m.created_at <= created_before]
        return sorted(rows, key=lambda m: (m.created_at, m.id))[:limit]

    def update_message(self, message: Message) -> None:
        self._update(MESSAGES, message)

    def unsettled_messages_in(self, workspace_id: str, session_id: str | None = None) -> list[Message]:
        sessions = {k for k, s in self._t(SESSIONS).items() if s.workspace_id == workspace_id}
        rows = [
            replace(m)
            for m in self._t(MESSAGES).values()
            if not m.settled and m.session_id in sessions and session_id in (None, m.session_id)
        ]
        return sorted(rows, key=lambda m: (m.created_at, m.id))

    def lock_sessions(self, workspace_id: str) -> None:
        pass  # the unit of work already serialises writers

    # claims
    def add_claim(self, claim: Claim) -> None:
        if claim.idempotency_key in self._t(CLAIMS):
            raise DuplicateRecord("The record already exists.")
        self._t(CLAIMS)[claim.idempotency_key] = replace(claim)

    def get_claim(self, idempotency_key: str) -> Claim | None:
        found = self._t(CLAIMS).get(idempotency_key)
        return replace(found) if found is not None else None

    def renew_claim(self, idempotency_key: str, seen: datetime, now: datetime) -> bool:
        found = self._t(CLAIMS).get(idempotency_key)
        if found is None or found.created_at != seen:
            return False
        self._t(CLAIMS)[idempotency_key] = replace(found, created_at=now)
        return True

    def release_claim(self, idempotency_key: str) -> None:
        self._t(CLAIMS).pop(idempotency_key, None)

    # tasks
    def add_task(self, task: Task) -> None:
        if task.idempotency_key is not None and self.get_task_by_key(task.idempotency_key) is not None:
            raise DuplicateRecord("The record already exists.")
        self._add(TASKS, task)

    def get_task(self, task_id: str) -> Task | None:
        found = self._t(TASKS).get(task_id)
        return _copy_task(found) if found is not None else None

    def get_task_for_update(self, task_id: str) -> Task | None:
        return self.get_task(task_id)

    def get_task_by_key(self, idempotency_key: str) -> Task | None:
        found = next((t for t in self._t(TASKS).values() if t.idempotency_key == idempotency_key), None)
        return _copy_task(found) if found is not None else None

    def update_task(self, task: Task) -> None:
        if task.id in self._t(TASKS):
            self._t(TASKS)[task.id] = _copy_task(task)

    def list_tasks(
        self, owner_id: str, *, limit: int, before: str | None, status: TaskStatus | None = None
    ) -> list[Task]:
        rows = _newest_first(
            self._t(TASKS).values(),
            lambda t: t.owner_id == owner_id and (status is None or t.status == status),
            limit,
            before,
        )
        return [_copy_task(t) for t in rows]

    def tasks_of_workspace(self, workspace_id: str) -> list[Task]:
        return [_copy_task(t) for t in self._t(TASKS).values() if t.workspace_id == workspace_id]

    def stuck_tasks(self, started_before: datetime, queued_before: datetime, limit: int) -> list[Task]:
        rows = [
            _copy_task(t)
            for t in self._t(TASKS).values()
            if (t.status is TaskStatus.RUNNING and t.started_at is not None and t.started_at <= started_before)
            or (t.status is TaskStatus.QUEUED and t.created_at <= queued_before)
        ]
        return sorted(rows, key=lambda t: t.id)[:limit]

    def unsettled_tasks(self, finished_before: datetime, limit: int) -> list[Task]:
        rows = [
            _copy_task(t)
            for t in self._t(TASKS).values()
            if not t.settled and t.finished_at is not None and t.finished_at <= finished_before
        ]
        return sorted(rows, key=lambda t: t.id)[:limit]


def _copy_task(task: Task) -> Task:
    return replace(task, input=dict(task.input))
