"""The SQL coaching repository over SQLAlchemy Core, with explicit row <-> entity mapping. Never commits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql import Select

from adapters.sql.db import Db, Precompiled, aware_utc
from adapters.sql.tables import (
    coaching_claims,
    coaching_goals,
    coaching_messages,
    coaching_sessions,
    coaching_tasks,
    coaching_todos,
    coaching_workspaces,
)
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


# --- mapping ---------------------------------------------------------------------------------
def _workspace(row: RowMapping) -> Workspace:
    return Workspace(**dict(row))


def _goal(row: RowMapping) -> Goal:
    return Goal(**{**dict(row), "status": GoalStatus(row["status"])})


def _todo(row: RowMapping) -> Todo:
    return Todo(**{**dict(row), "status": TodoStatus(row["status"])})


def _session(row: RowMapping) -> ChatSession:
    return ChatSession(**dict(row))


def _message(row: RowMapping) -> Message:
    return Message(**{**dict(row), "cut_short": bool(row["cut_short"]), "settled": bool(row["settled"])})


def _task(row: RowMapping) -> Task:
    return Task(
        **{
            **dict(row),
            "status": TaskStatus(row["status"]),
            "input": json.loads(row["input"]),
            "settled": bool(row["settled"]),
        }
    )


def _row(entity: Any) -> dict[str, Any]:
    values = asdict(entity)
    for name, value in values.items():
        if isinstance(value, StrEnum):
            values[name] = value.value
    return values


def _task_row(task: Task) -> dict[str, Any]:
    return {**_row(task), "input": json.dumps(task.input, default=str)}


def _newest_first(query: Select[Any], table: Table, limit: int, before: str | None) -> Select[Any]:
    if before is not None:
        query = query.where(table.c.id < before)
    return query.order_by(table.c.id.desc()).limit(limit)


# --- a chat message's hot reads (issue 25): only the columns used, compiled once ------------------
_G, _T, _M, _S, _W = coaching_goals.c, coaching_todos.c, coaching_messages.c, coaching_sessions.c, coaching_workspaces.c
SESSION_COLUMNS = (
    _S.id,
    _S.workspace_id,
    _S.owner_id,
    _S.title,
    _S.coach,
    _S.created_at,
    _S.updated_at,
    _S.message_count,
)
WORKSPACE_COLUMNS = (
    _W.id,
    _W.owner_id,
    _W.name,
    _W.created_at,
    _W.updated_at,
    _W.industry,
    _W.description,
    _W.monthly_credit_limit,
)
SESSION_WITH_WORKSPACE = Precompiled(
    select(*SESSION_COLUMNS, *WORKSPACE_COLUMNS)
    .select_from(coaching_sessions.join(coaching_workspaces, _W.id == _S.workspace_id))
    .where(_S.id == bindparam("session_id"))
)
SESSION_FOR_UPDATE = Precompiled(select(*SESSION_COLUMNS).where(_S.id == bindparam("session_id")).with_for_update())
CONTEXT_GOALS = Precompiled(
    select(
        _G.id,
        _G.title,
        _G.progress,
        _G.created_at,
        _G.specific,
        _G.measurable,
        _G.target_value,
        _G.achievable,
        _G.relevant,
        _G.due_date,
    )
    .where(_G.workspace_id == bindparam("workspace_id"), _G.status == GoalStatus.ACTIVE.value)
    .order_by(_G.id.desc())
    .limit(bindparam("limit"))
)
CONTEXT_TODOS = Precompiled(
    select(_T.id, _T.title, _T.status, _T.created_at, _T.goal_id, _T.due_date)
    .where(
        _T.workspace_id == bindparam("workspace_id"),
        or_(_T.status == TodoStatus.OPEN.value, _T.status == TodoStatus.IN_PROGRESS.value),
    )
    .order_by(_T.id.desc())
    .limit(bindparam("limit"))
)
RECENT_TURNS = Precompiled(
    select(_M.role, _M.content)
    .where(_M.session_id == bindparam("session_id"))
    .order_by(_M.seq.desc())
    .limit(bindparam("limit"))
)


# A chat message's writes, built once: each call only binds values (no statement built per call).
INSERT_CLAIM = insert(coaching_claims)
INSERT_MESSAGES = insert(coaching_messages)
UPDATE_SESSION = (
    update(coaching_sessions)
    .where(_S.id == bindparam("session_id"))
    .values({c: bindparam(c.name) for c in coaching_sessions.c if c.name != "id"})
)


def _session_at(row: Any, i: int = 0) -> ChatSession:
    """A session from a driver row (naive datetimes on MySQL/MariaDB) or a Core row, from column i."""
    return ChatSession(
        row[i],
        row[i + 1],
        row[i + 2],
        row[i + 3],
        row[i + 4],
        aware_utc(row[i + 5]),
        aware_utc(row[i + 6]),
        int(row[i + 7]),
    )


def _workspace_at(row: Any, i: int) -> Workspace:
    limit = row[i + 7]
    return Workspace(
        row[i],
        row[i + 1],
        row[i + 2],
        aware_utc(row[i + 3]),
        aware_utc(row[i + 4]),
        row[i + 5],
        row[i + 6],
        int(limit) if limit is not None else None,
    )


# --- the repository --------------------------------------------------------------------------
class SqlCoachingRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def _one(self, query: Select[Any]) -> RowMapping | None:
        return self._db.execute(query).mappings().first()

    def _all(self, query: Select[Any]) -> list[RowMapping]:
        return list(self._db.execute(query).mappings())

    # workspaces
    def add_workspace(self, workspace: Workspace) -> None:
        self._db.execute(insert(coaching_workspaces).values(_row(workspace)))

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        row = self._one(select(coaching_workspaces).where(coaching_workspaces.c.id == workspace_id))
        return _workspace(row) if row is not None else None

    def get_workspace_for_update(self, workspace_id: str) -> Workspace | None:
        query = select(coaching_workspaces).where(coaching_workspaces.c.id == workspace_id).with_for_update()
        row = self._one(query)
        return _workspace(row) if row is not None else None

    def update_workspace(self, workspace: Workspace) -> None:
        t = coaching_workspaces
        self._db.execute(update(t).where(t.c.id == workspace.id).values(_row(workspace)))

    def delete_workspace(self, workspace_id: str) -> None:
        sessions = select(coaching_sessions.c.id).where(coaching_sessions.c.workspace_id == workspace_id)
        self._db.execute(delete(coaching_messages).where(coaching_messages.c.session_id.in_(sessions)))
        for table in (coaching_sessions, coaching_tasks, coaching_todos, coaching_goals):
            self._db.execute(delete(table).where(table.c.workspace_id == workspace_id))
        self._db.execute(delete(coaching_workspaces).where(coaching_workspaces.c.id == workspace_id))

    def list_workspaces(self, owner_id: str, *, limit: int, before: str | None) -> list[Workspace]:
        t = coaching_workspaces
        query = _newest_first(select(t).where(t.c.owner_id == owner_id), t, limit, before)
        return [_workspace(r) for r in self._all(query)]

    # goals
    def add_goal(self, goal: Goal) -> None:
        self._db.execute(insert(coaching_goals).values(_row(goal)))

    def get_goal(self, goal_id: str) -> Goal | None:
        row = self._one(select(coaching_goals).where(coaching_goals.c.id == goal_id))
        return _goal(row) if row is not None else None

    def update_goal(self, goal: Goal) -> None:
        self._db.execute(update(coaching_goals).where(coaching_goals.c.id == goal.id).values(_row(goal)))

    def delete_goal(self, goal_id: str) -> None:
        self._db.execute(update(coaching_todos).where(coaching_todos.c.goal_id == goal_id).values(goal_id=None))
        self._db.execute(delete(coaching_goals).where(coaching_goals.c.id == goal_id))

    def list_goals(
        self, workspace_id: str, *, limit: int, before: str | None, status: GoalStatus | None = None
    ) -> list[Goal]:
        t = coaching_goals
        query = select(t).where(t.c.workspace_id == workspace_id)
        if status is not None:
            query = query.where(t.c.status == status.value)
        return [_goal(r) for r in self._all(_newest_first(query, t, limit, before))]

    # todos
    def add_todo(self, todo: Todo) -> None:
        self._db.execute(insert(coaching_todos).values(_row(todo)))

    def get_todo(self, todo_id: str) -> Todo | None:
        row = self._one(select(coaching_todos).where(coaching_todos.c.id == todo_id))
        return _todo(row) if row is not None else None

    def update_todo(self, todo: Todo) -> None:
        self._db.execute(update(coaching_todos).where(coaching_todos.c.id == todo.id).values(_row(todo)))

    def delete_todo(self, todo_id: str) -> None:
        self._db.execute(delete(coaching_todos).where(coaching_todos.c.id == todo_id))

    def list_todos(
        self,
        workspace_id: str,
        *,
        limit: int,
        before: str | None,
        statuses: Sequence[TodoStatus] | None = None,
        goal_id: str | None = None,
    ) -> list[Todo]:
        t = coaching_todos
        query = select(t).where(t.c.workspace_id == workspace_id)
        if statuses is not None:
            query = query.where(t.c.status.in_([s.value for s in statuses]))
        if goal_id is not None:
            query = query.where(t.c.goal_id == goal_id)
        return [_todo(r) for r in self._all(_newest_first(query, t, limit, before))]

    # sessions
    def add_session(self, session: ChatSession) -> None:
        self._db.execute(insert(coaching_sessions).values(_row(session)))

    def get_session(self, session_id: str) -> ChatSession | None:
        row = self._one(select(coaching_sessions).where(coaching_sessions.c.id == session_id))
        return _session(row) if row is not None else None

    def get_session_for_update(self, session_id: str) -> ChatSession | None:
        rows = self._db.execute_precompiled(SESSION_FOR_UPDATE, {"session_id": session_id})
        return _session_at(rows[0]) if rows else None

    def get_session_with_workspace(self, session_id: str) -> tuple[ChatSession, Workspace] | None:
        rows = self._db.execute_precompiled(SESSION_WITH_WORKSPACE, {"session_id": session_id})
        return (_session_at(rows[0]), _workspace_at(rows[0], len(SESSION_COLUMNS))) if rows else None

    def update_session(self, session: ChatSession) -> None:
        values = _row(session)
        values["session_id"] = values.pop("id")
        self._db.execute(UPDATE_SESSION, values)

    def delete_session(self, session_id: str) -> None:
        self._db.execute(delete(coaching_messages).where(coaching_messages.c.session_id == session_id))
        self._db.execute(delete(coaching_sessions).where(coaching_sessions.c.id == session_id))

    def list_sessions(
        self, workspace_id: str, *, limit: int, before: str | None, owner_id: str | None = None
    ) -> list[ChatSession]:
        t = coaching_sessions
        query = select(t).where(t.c.workspace_id == workspace_id)
        if owner_id is not None:
            query = query.where(t.c.owner_id == owner_id)
        query = _newest_first(query, t, limit, before)
        return [_session(r) for r in self._all(query)]

    # messages
    def add_message(self, message: Message) -> None:
        self._db.execute(insert(coaching_messages).values(_row(message)))

    def add_messages(self, messages: Sequence[Message]) -> None:
        """One INSERT with a row per message (the driver sends an executemany of one statement as
        one multi-row INSERT on MySQL/MariaDB): an exchange is stored in one round trip."""
        self._db.execute(INSERT_MESSAGES, [_row(m) for m in messages])

    def list_messages(self, session_id: str, *, limit: int, after_seq: int | None) -> list[Message]:
        t = coaching_messages
        query = select(t).where(t.c.session_id == session_id)
        if after_seq is not None:
            query = query.where(t.c.seq > after_seq)
        return [_message(r) for r in self._all(query.order_by(t.c.seq).limit(limit))]

    def recent_messages(self, session_id: str, limit: int) -> list[Message]:
        t = coaching_messages
        query = select(t).where(t.c.session_id == session_id).order_by(t.c.seq.desc()).limit(limit)
        return [_message(r) for r in reversed(self._all(query))]

    def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        rows: list[Any] = list(self._db.execute_precompiled(RECENT_TURNS, {"session_id": session_id, "limit": limit}))
        return [Turn(r[0], r[1]) for r in reversed(rows)]

    def context_goals(self, workspace_id: str, limit: int) -> list[GoalBrief]:
        params = {"workspace_id": workspace_id, "limit": limit}
        rows: list[Any] = list(self._db.execute_precompiled(CONTEXT_GOALS, params))
        return [GoalBrief(r[0], r[1], int(r[2]), aware_utc(r[3]), r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def context_todos(self, workspace_id: str, limit: int) -> list[TodoBrief]:
        params = {"workspace_id": workspace_id, "limit": limit}
        rows: list[Any] = list(self._db.execute_precompiled(CONTEXT_TODOS, params))
        return [TodoBrief(r[0], r[1], TodoStatus(r[2]), aware_utc(r[3]), r[4], r[5]) for r in rows]

    def get_message_by_key(self, idempotency_key: str) -> Message | None:
        row = self._one(select(coaching_messages).where(coaching_messages.c.idempotency_key == idempotency_key))
        return _message(row) if row is not None else None

    def get_message_by_seq(self, session_id: str, seq: int) -> Message | None:
        t = coaching_messages
        row = self._one(select(t).where(t.c.session_id == session_id, t.c.seq == seq))
        return _message(row) if row is not None else None

    def unsettled_messages(self, created_before: datetime, limit: int) -> list[Message]:
        t = coaching_messages
        query = (
            select(t)
            .where(t.c.settled.is_(False), t.c.created_at <= created_before)
            .order_by(t.c.created_at, t.c.id)
            .limit(limit)
        )
        return [_message(r) for r in self._all(query)]

    def update_message(self, message: Message) -> None:
        t = coaching_messages
        self._db.execute(update(t).where(t.c.id == message.id).values(_row(message)))

    def unsettled_messages_in(self, workspace_id: str, session_id: str | None = None) -> list[Message]:
        m, s = coaching_messages, coaching_sessions
        query = (
            select(m)
            .join(s, s.c.id == m.c.session_id)
            .where(s.c.workspace_id == workspace_id, m.c.settled.is_(False))
            .order_by(m.c.created_at, m.c.id)
        )
        if session_id is not None:
            query = query.where(m.c.session_id == session_id)
        return [_message(r) for r in self._all(query.with_for_update())]

    def lock_sessions(self, workspace_id: str) -> None:
        t = coaching_sessions
        self._all(select(t.c.id).where(t.c.workspace_id == workspace_id).with_for_update())

    # claims
    def add_claim(self, claim: Claim) -> None:
        self._db.execute(INSERT_CLAIM, asdict(claim))

    def get_claim(self, idempotency_key: str) -> Claim | None:
        row = self._one(select(coaching_claims).where(coaching_claims.c.idempotency_key == idempotency_key))
        return Claim(**dict(row)) if row is not None else None

    def renew_claim(self, idempotency_key: str, seen: datetime, now: datetime) -> bool:
        t = coaching_claims
        result = self._db.execute(
            update(t).where(t.c.idempotency_key == idempotency_key, t.c.created_at == seen).values(created_at=now)
        )
        return bool(result.rowcount == 1)

    def release_claim(self, idempotency_key: str) -> None:
        self._db.execute(delete(coaching_claims).where(coaching_claims.c.idempotency_key == idempotency_key))

    # tasks
    def add_task(self, task: Task) -> None:
        self._db.execute(insert(coaching_tasks).values(_task_row(task)))

    def get_task(self, task_id: str) -> Task | None:
        row = self._one(select(coaching_tasks).where(coaching_tasks.c.id == task_id))
        return _task(row) if row is not None else None

    def get_task_for_update(self, task_id: str) -> Task | None:
        row = self._one(select(coaching_tasks).where(coaching_tasks.c.id == task_id).with_for_update())
        return _task(row) if row is not None else None

    def get_task_by_key(self, idempotency_key: str) -> Task | None:
        row = self._one(select(coaching_tasks).where(coaching_tasks.c.idempotency_key == idempotency_key))
        return _task(row) if row is not None else None

    def update_task(self, task: Task) -> None:
        self._db.execute(update(coaching_tasks).where(coaching_tasks.c.id == task.id).values(_task_row(task)))

    def list_tasks(
        self, owner_id: str, *, limit: int, before: str | None, status: TaskStatus | None = None
    ) -> list[Task]:
        t = coaching_tasks
        query = select(t).where(t.c.owner_id == owner_id)
        if status is not None:
            query = query.where(t.c.status == status.value)
        return [_task(r) for r in self._all(_newest_first(query, t, limit, before))]

    def tasks_of_workspace(self, workspace_id: str) -> list[Task]:
        return [
            _task(r) for r in self._all(select(coaching_tasks).where(coaching_tasks.c.workspace_id == workspace_id))
        ]

    def stuck_tasks(self, started_before: datetime, queued_before: datetime, limit: int) -> list[Task]:
        t = coaching_tasks
        running = select(t).where(t.c.status == TaskStatus.RUNNING.value, t.c.started_at <= started_before)
        queued = select(t).where(t.c.status == TaskStatus.QUEUED.value, t.c.created_at <= queued_before)
        rows = self._all(running.order_by(t.c.id).limit(limit)) + self._all(queued.order_by(t.c.id).limit(limit))
        return sorted((_task(r) for r in rows), key=lambda task: task.id)[:limit]

    def unsettled_tasks(self, finished_before: datetime, limit: int) -> list[Task]:
        t = coaching_tasks
        query = (
            select(t).where(t.c.settled.is_(False), t.c.finished_at <= finished_before).order_by(t.c.id).limit(limit)
        )
        return [_task(r) for r in self._all(query)]
