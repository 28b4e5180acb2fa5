"""Coaching's use cases, one small class per group, each given its collaborators:

| class               | module            | does                                                         |
| ------------------- | ----------------- | ------------------------------------------------------------ |
| `WorkspaceUseCases` | `workspaces.py`   | workspaces, SMART goals, todos                               |
| `SessionUseCases`   | `sessions.py`     | chat sessions: start, read with their messages, list         |
| `ChatUseCases`      | `chat.py`         | a message (JSON or streamed) and its charge                  |
| `AnswerSettlement`  | `settlement.py`   | a stored answer's charge: replays, deleting a session, the answers' sweep |
| `TaskUseCases`      | `tasks.py`        | AI tasks: ask, run (the worker), cancel, read; the tasks' sweep |
| `TeamUseCases`      | `teams.py`        | invitations, members, ownership, a workspace's usage         |
| `Housekeeping`      | `housekeeping.py` | deleting a workspace (its charges settled first), the sweep  |

The policy check, the prompt's context, keyset pages and keys are functions in `base.py`.
`Coaching` is the facade the composition root builds and entrypoints call: it composes the
groups and keeps one method per use case (route -> use case: /v1/workspaces, /goals, /todos ->
workspaces.py; /v1/chat -> sessions.py, chat.py, settlement.py (delete); /v1/tasks -> tasks.py; members and
invitations -> teams.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from domain.coaching.members import MemberView
from domain.coaching.model import ChatSession, Coach, Goal, Task, TaskStatus, Todo
from domain.coaching.ports import CoachingUnitOfWork, CoachModel
from domain.coaching.services.base import DEFAULT_COACH, CoachingConfig, check_catalogue
from domain.coaching.services.chat import ChatUseCases, Delta, Done, Exchange, Failed, SessionView, StreamEvent
from domain.coaching.services.housekeeping import Housekeeping
from domain.coaching.services.sessions import SessionUseCases
from domain.coaching.services.settlement import AnswerSettlement
from domain.coaching.services.tasks import RUN_TASK_JOB, SweepResult, TaskUseCases
from domain.coaching.services.teams import InvitationView, TeamUseCases, WorkspaceUsage, WorkspaceView
from domain.coaching.services.workspaces import WorkspaceUseCases
from domain.ledger.ports import CreditHolds
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page


class Coaching:
    """Every coaching use case; built once by the composition root."""

    def __init__(
        self,
        *,
        uow: Callable[[], CoachingUnitOfWork],
        ledger: CreditHolds,
        model: CoachModel,
        coaches: Mapping[str, Coach],
        clock: Clock,
        ids: IdGenerator,
        config: CoachingConfig,
    ) -> None:
        check_catalogue(coaches)
        self.coaches = dict(coaches)  # one catalogue, shared by the groups that read it
        self.config = config
        self.workspaces = WorkspaceUseCases(uow=uow, clock=clock, ids=ids)
        self.sessions = SessionUseCases(uow=uow, clock=clock, ids=ids, coaches=self.coaches)
        self.answers = AnswerSettlement(uow=uow, ledger=ledger, clock=clock, config=config)
        self.chat = ChatUseCases(
            uow=uow,
            ledger=ledger,
            model=model,
            coaches=self.coaches,
            clock=clock,
            ids=ids,
            config=config,
            settlement=self.answers,
        )
        self.tasks = TaskUseCases(
            uow=uow, ledger=ledger, model=model, coaches=self.coaches, clock=clock, ids=ids, config=config
        )
        self.teams = TeamUseCases(uow=uow, clock=clock, ids=ids, config=config)
        self.housekeeping = Housekeeping(uow=uow, answers=self.answers, tasks=self.tasks)

    # --- workspaces, goals, todos -------------------------------------------------------------
    def create_workspace(
        self, user_id: str, *, name: str, industry: str | None = None, description: str | None = None
    ) -> WorkspaceView:
        return self.workspaces.create_workspace(user_id, name=name, industry=industry, description=description)

    def get_workspace(self, user_id: str, workspace_id: str) -> WorkspaceView:
        return self.workspaces.get_workspace(user_id, workspace_id)

    def update_workspace(self, user_id: str, workspace_id: str, changes: Mapping[str, Any]) -> WorkspaceView:
        return self.workspaces.update_workspace(user_id, workspace_id, changes)

    def list_workspaces(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[WorkspaceView]:
        return self.workspaces.list_workspaces(user_id, limit=limit, cursor=cursor)

    def delete_workspace(self, user_id: str, workspace_id: str) -> None:
        self.housekeeping.delete_workspace(user_id, workspace_id)

    def create_goal(self, user_id: str, workspace_id: str, values: Mapping[str, Any]) -> Goal:
        return self.workspaces.create_goal(user_id, workspace_id, values)

    def get_goal(self, user_id: str, goal_id: str) -> Goal:
        return self.workspaces.get_goal(user_id, goal_id)

    def update_goal(self, user_id: str, goal_id: str, changes: Mapping[str, Any]) -> Goal:
        return self.workspaces.update_goal(user_id, goal_id, changes)

    def delete_goal(self, user_id: str, goal_id: str) -> None:
        self.workspaces.delete_goal(user_id, goal_id)

    def list_goals(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None, status: str | None = None
    ) -> Page[Goal]:
        return self.workspaces.list_goals(user_id, workspace_id, limit=limit, cursor=cursor, status=status)

    def create_todo(self, user_id: str, workspace_id: str, values: Mapping[str, Any]) -> Todo:
        return self.workspaces.create_todo(user_id, workspace_id, values)

    def get_todo(self, user_id: str, todo_id: str) -> Todo:
        return self.workspaces.get_todo(user_id, todo_id)

    def update_todo(self, user_id: str, todo_id: str, changes: Mapping[str, Any]) -> Todo:
        return self.workspaces.update_todo(user_id, todo_id, changes)

    def delete_todo(self, user_id: str, todo_id: str) -> None:
        self.workspaces.delete_todo(user_id, todo_id)

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
        return self.workspaces.list_todos(
            user_id, workspace_id, limit=limit, cursor=cursor, status=status, goal_id=goal_id
        )

    # --- chat ---------------------------------------------------------------------------------
    def create_session(
        self, user_id: str, workspace_id: str, *, title: str | None = None, coach: str | None = None
    ) -> ChatSession:
        return self.sessions.create_session(user_id, workspace_id, title=title, coach=coach)

    def get_session(self, user_id: str, session_id: str, *, limit: int = 50, cursor: str | None = None) -> SessionView:
        return self.sessions.get_session(user_id, session_id, limit=limit, cursor=cursor)

    def list_sessions(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[ChatSession]:
        return self.sessions.list_sessions(user_id, workspace_id, limit=limit, cursor=cursor)

    def delete_session(self, user_id: str, session_id: str) -> None:
        self.answers.delete_session(user_id, session_id)

    def send_message(
        self, user_id: str, session_id: str, content: str, *, idempotency_key: str | None = None
    ) -> Exchange:
        return self.chat.send_message(user_id, session_id, content, idempotency_key=idempotency_key)

    def stream_message(
        self, user_id: str, session_id: str, content: str, *, idempotency_key: str | None = None
    ) -> Iterator[StreamEvent]:
        return self.chat.stream_message(user_id, session_id, content, idempotency_key=idempotency_key)

    # --- tasks --------------------------------------------------------------------------------
    def create_task(
        self,
        user_id: str,
        *,
        type: str,
        workspace_id: str,
        input: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> Task:
        return self.tasks.create_task(
            user_id, type=type, workspace_id=workspace_id, input=input, idempotency_key=idempotency_key
        )

    def get_task(self, user_id: str, task_id: str) -> Task:
        return self.tasks.get_task(user_id, task_id)

    def list_tasks(
        self, user_id: str, *, limit: int = 50, cursor: str | None = None, status: str | None = None
    ) -> Page[Task]:
        return self.tasks.list_tasks(user_id, limit=limit, cursor=cursor, status=status)

    def cancel_task(self, user_id: str, task_id: str) -> Task:
        return self.tasks.cancel_task(user_id, task_id)

    def run_task(self, task_id: str) -> TaskStatus | None:
        return self.tasks.run_task(task_id)

    def sweep(self) -> SweepResult:
        return self.housekeeping.sweep()

    # --- members and invitations (issue 23) ---------------------------------------------------
    def invite(self, user_id: str, workspace_id: str, *, email: str, role: str) -> InvitationView:
        return self.teams.invite(user_id, workspace_id, email=email, role=role)

    def workspace_invitations(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[InvitationView]:
        return self.teams.workspace_invitations(user_id, workspace_id, limit=limit, cursor=cursor)

    def revoke_invitation(self, user_id: str, workspace_id: str, invitation_id: str) -> None:
        self.teams.revoke_invitation(user_id, workspace_id, invitation_id)

    def my_invitations(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[InvitationView]:
        return self.teams.my_invitations(user_id, limit=limit, cursor=cursor)

    def on_user_created(self, uow: CoachingUnitOfWork, user: Any) -> None:
        """Identity's hook at registration: pending invitations to the new address are told."""
        self.teams.on_user_created(uow, user)

    def respond_to_invitation(self, user_id: str, invitation_id: str, *, accept: bool) -> InvitationView:
        return self.teams.respond_to_invitation(user_id, invitation_id, accept=accept)

    def members(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[MemberView]:
        return self.teams.members(user_id, workspace_id, limit=limit, cursor=cursor)

    def update_member(self, user_id: str, workspace_id: str, member_id: str, changes: Mapping[str, Any]) -> MemberView:
        return self.teams.update_member(user_id, workspace_id, member_id, changes)

    def remove_member(self, user_id: str, workspace_id: str, member_id: str) -> None:
        self.teams.remove_member(user_id, workspace_id, member_id)

    def transfer_ownership(self, user_id: str, workspace_id: str, new_owner_id: str) -> WorkspaceView:
        return self.teams.transfer_ownership(user_id, workspace_id, new_owner_id)

    def workspace_usage(self, user_id: str, workspace_id: str, month: str | None = None) -> WorkspaceUsage:
        return self.teams.workspace_usage(user_id, workspace_id, month)


__all__ = [
    "DEFAULT_COACH",
    "RUN_TASK_JOB",
    "Coaching",
    "CoachingConfig",
    "Delta",
    "Done",
    "Exchange",
    "Failed",
    "InvitationView",
    "SessionView",
    "StreamEvent",
    "SweepResult",
    "WorkspaceUsage",
    "WorkspaceView",
]
