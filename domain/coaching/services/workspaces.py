"""Workspaces, SMART goals and todos: create, read, change, delete, keyset lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from domain.coaching.errors import WorkspaceNotFound
from domain.coaching.members import check_limit_value
from domain.coaching.model import (
    INDUSTRY_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Goal,
    GoalStatus,
    Role,
    Todo,
    TodoStatus,
    Workspace,
    check_length,
    check_progress,
)
from domain.coaching.policy import Action
from domain.coaching.ports import CoachingUnitOfWork
from domain.coaching.services.base import access, access_within, role_in
from domain.coaching.services.teams import WorkspaceView
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page, check_limit, id_cursor, page_of
from domain.shared.uow import transaction

WORKSPACE_FIELDS = {"name": TITLE_MAX, "industry": INDUSTRY_MAX, "description": TEXT_MAX}
GOAL_TEXT_FIELDS = {
    "title": TITLE_MAX,
    "specific": TEXT_MAX,
    "measurable": TEXT_MAX,
    "target_value": TITLE_MAX,
    "achievable": TEXT_MAX,
    "relevant": TEXT_MAX,
}
TODO_TEXT_FIELDS = {"title": TITLE_MAX}


def _check_texts(values: Mapping[str, Any], limits: Mapping[str, int], required: tuple[str, ...]) -> None:
    for name, maximum in limits.items():
        if name in values or name in required:
            check_length(name, values.get(name), maximum, required=name in required)


def _status(kind: type[GoalStatus] | type[TodoStatus], value: Any, field: str = "status") -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(s.value for s in kind)
        raise InvalidInput(f"Unknown {field} {value!r}.", details={field: f"One of {allowed}."}) from None


def _date(value: Any, field: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    raise InvalidInput(f"{field} must be a date.", details={field: "A date (YYYY-MM-DD)."})


class WorkspaceUseCases:
    """Workspaces, goals and todos: their owner's and members' reads and writes, as the policy allows."""

    def __init__(self, *, uow: Callable[[], CoachingUnitOfWork], clock: Clock, ids: IdGenerator) -> None:
        self._uow, self._clock, self._ids = uow, clock, ids

    # --- workspaces ------------------------------------------------------------------------------
    def create_workspace(
        self, user_id: str, *, name: str, industry: str | None = None, description: str | None = None
    ) -> WorkspaceView:
        _check_texts({"name": name, "industry": industry, "description": description}, WORKSPACE_FIELDS, ("name",))
        now = self._clock.now()
        workspace = Workspace(
            id=self._ids.new_id("wsp"),
            owner_id=user_id,
            name=name,
            industry=industry,
            description=description,
            created_at=now,
            updated_at=now,
        )
        transaction(self._uow, lambda uow: uow.coaching.add_workspace(workspace))
        return WorkspaceView.of(workspace, Role.OWNER)

    def get_workspace(self, user_id: str, workspace_id: str) -> WorkspaceView:
        with self._uow() as uow:
            workspace = access(uow, workspace_id, user_id, Action.READ)
            return WorkspaceView.of(workspace, role_in(uow, workspace, user_id) or Role.VIEWER)

    def update_workspace(self, user_id: str, workspace_id: str, changes: Mapping[str, Any]) -> WorkspaceView:
        """Rename, describe, or set the monthly credit limit (issue 23: null is no cap) — owner, admin."""
        _check_texts(changes, WORKSPACE_FIELDS, ("name",) if "name" in changes else ())
        if "monthly_credit_limit" in changes:
            check_limit_value(changes["monthly_credit_limit"])

        def work(uow: CoachingUnitOfWork) -> WorkspaceView:
            workspace: Workspace = access(uow, workspace_id, user_id, Action.MANAGE)
            for name in (*WORKSPACE_FIELDS, "monthly_credit_limit"):
                if name in changes:
                    setattr(workspace, name, changes[name])
            workspace.updated_at = self._clock.now()
            uow.coaching.update_workspace(workspace)
            return WorkspaceView.of(workspace, role_in(uow, workspace, user_id) or Role.VIEWER)

        return transaction(self._uow, work)

    def list_workspaces(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[WorkspaceView]:
        """The workspaces the caller owns or is a member of, with the caller's role, newest first."""
        check_limit(limit)
        with self._uow() as uow:
            rows = uow.teams.workspaces_of(user_id, limit=limit + 1, before=id_cursor(cursor))
        page = page_of(rows, limit, lambda pair: {"id": pair[0].id})
        return Page(items=[WorkspaceView.of(w, role) for w, role in page.items], next_cursor=page.next_cursor)

    # --- goals -----------------------------------------------------------------------------------
    def create_goal(self, user_id: str, workspace_id: str, values: Mapping[str, Any]) -> Goal:
        _check_texts(values, GOAL_TEXT_FIELDS, ("title",))
        progress = int(values.get("progress") or 0)
        check_progress(progress)
        now = self._clock.now()
        goal = Goal(
            id=self._ids.new_id("gol"),
            workspace_id=workspace_id,
            title=values["title"],
            status=_status(GoalStatus, values.get("status") or GoalStatus.ACTIVE),
            progress=progress,
            created_at=now,
            updated_at=now,
            due_date=_date(values.get("due_date"), "due_date"),
            **{name: values.get(name) for name in GOAL_TEXT_FIELDS if name != "title"},
        )

        def work(uow: CoachingUnitOfWork) -> None:
            access(uow, workspace_id, user_id, Action.WRITE)
            uow.coaching.add_goal(goal)

        transaction(self._uow, work)
        return goal

    def get_goal(self, user_id: str, goal_id: str) -> Goal:
        with self._uow() as uow:
            return self._goal(uow, user_id, goal_id, Action.READ)

    def _goal(self, uow: Any, user_id: str, goal_id: str, action: Action) -> Goal:
        goal: Goal | None = uow.coaching.get_goal(goal_id)
        access_within(uow, goal.workspace_id if goal else None, user_id, action, "goal")
        assert goal is not None
        return goal

    def update_goal(self, user_id: str, goal_id: str, changes: Mapping[str, Any]) -> Goal:
        _check_texts(changes, GOAL_TEXT_FIELDS, ("title",) if "title" in changes else ())
        if changes.get("progress") is not None:
            check_progress(int(changes["progress"]))

        def work(uow: CoachingUnitOfWork) -> Goal:
            goal = self._goal(uow, user_id, goal_id, Action.WRITE)
            for name in GOAL_TEXT_FIELDS:
                if name in changes:
                    setattr(goal, name, changes[name])
            if changes.get("status") is not None:
                goal.status = _status(GoalStatus, changes["status"])
            if changes.get("progress") is not None:
                goal.progress = int(changes["progress"])
            if "due_date" in changes:
                goal.due_date = _date(changes["due_date"], "due_date")
            goal.updated_at = self._clock.now()
            uow.coaching.update_goal(goal)
            return goal

        return transaction(self._uow, work)

    def delete_goal(self, user_id: str, goal_id: str) -> None:
        def work(uow: CoachingUnitOfWork) -> None:
            self._goal(uow, user_id, goal_id, Action.WRITE)
            uow.coaching.delete_goal(goal_id)

        transaction(self._uow, work)

    def list_goals(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None, status: str | None = None
    ) -> Page[Goal]:
        check_limit(limit)
        wanted = _status(GoalStatus, status) if status is not None else None
        with self._uow() as uow:
            access(uow, workspace_id, user_id, Action.READ)
            rows = uow.coaching.list_goals(workspace_id, limit=limit + 1, before=id_cursor(cursor), status=wanted)
        return page_of(rows, limit, lambda g: {"id": g.id})

    # --- todos -----------------------------------------------------------------------------------
    def create_todo(self, user_id: str, workspace_id: str, values: Mapping[str, Any]) -> Todo:
        _check_texts(values, TODO_TEXT_FIELDS, ("title",))
        now = self._clock.now()
        todo = Todo(
            id=self._ids.new_id("tdo"),
            workspace_id=workspace_id,
            title=values["title"],
            status=_status(TodoStatus, values.get("status") or TodoStatus.OPEN),
            created_at=now,
            updated_at=now,
            goal_id=values.get("goal_id"),
            due_date=_date(values.get("due_date"), "due_date"),
        )

        def work(uow: CoachingUnitOfWork) -> None:
            access(uow, workspace_id, user_id, Action.WRITE)
            self._check_goal_link(uow, workspace_id, todo.goal_id)
            uow.coaching.add_todo(todo)

        transaction(self._uow, work)
        return todo

    def _check_goal_link(self, uow: Any, workspace_id: str, goal_id: str | None) -> None:
        """A todo may only point at a goal of its own workspace (else 422, naming goal_id)."""
        if goal_id is None:
            return
        goal = uow.coaching.get_goal(goal_id)
        if goal is None or goal.workspace_id != workspace_id:
            raise InvalidInput("No such goal in this workspace.", details={"goal_id": "Not a goal of this workspace."})

    def get_todo(self, user_id: str, todo_id: str) -> Todo:
        with self._uow() as uow:
            return self._todo(uow, user_id, todo_id, Action.READ)

    def _todo(self, uow: Any, user_id: str, todo_id: str, action: Action) -> Todo:
        todo: Todo | None = uow.coaching.get_todo(todo_id)
        access_within(uow, todo.workspace_id if todo else None, user_id, action, "todo")
        assert todo is not None
        return todo

    def update_todo(self, user_id: str, todo_id: str, changes: Mapping[str, Any]) -> Todo:
        _check_texts(changes, TODO_TEXT_FIELDS, ("title",) if "title" in changes else ())

        def work(uow: CoachingUnitOfWork) -> Todo:
            todo = self._todo(uow, user_id, todo_id, Action.WRITE)
            if "title" in changes:
                todo.title = changes["title"]
            if changes.get("status") is not None:
                todo.status = _status(TodoStatus, changes["status"])
            if "due_date" in changes:
                todo.due_date = _date(changes["due_date"], "due_date")
            if "goal_id" in changes:
                self._check_goal_link(uow, todo.workspace_id, changes["goal_id"])
                todo.goal_id = changes["goal_id"]
            todo.updated_at = self._clock.now()
            uow.coaching.update_todo(todo)
            return todo

        return transaction(self._uow, work)

    def delete_todo(self, user_id: str, todo_id: str) -> None:
        def work(uow: CoachingUnitOfWork) -> None:
            self._todo(uow, user_id, todo_id, Action.WRITE)
            uow.coaching.delete_todo(todo_id)

        transaction(self._uow, work)

    def list_todos(
        self,
        user_id: str,
        workspace_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
        goal_id: str | None = None,
    ) -> Page[Todo]:
        check_limit(limit)
        statuses = [_status(TodoStatus, status)] if status is not None else None
        with self._uow() as uow:
            access(uow, workspace_id, user_id, Action.READ)
            rows = uow.coaching.list_todos(
                workspace_id, limit=limit + 1, before=id_cursor(cursor), statuses=statuses, goal_id=goal_id
            )
        return page_of(rows, limit, lambda t: {"id": t.id})


__all__ = ["WorkspaceNotFound", "WorkspaceUseCases"]
