"""Ports of the coaching area: the coach model (an LLM or the scripted offline coach) and storage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.coaching.members import Invitation, Membership, MemberView
from domain.coaching.model import (
    ChatSession,
    Claim,
    Goal,
    GoalBrief,
    GoalStatus,
    Message,
    Role,
    Task,
    TaskStatus,
    Todo,
    TodoBrief,
    TodoStatus,
    Turn,
    Workspace,
)
from domain.ledger.budgets import BudgetRepository
from domain.ledger.ports import LedgerRepository
from domain.shared.uow import UnitOfWork


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ModelSettings:
    model: str | None  # None: the adapter's configured default model
    temperature: float
    max_tokens: int  # always set (the affordable cap)


@dataclass(frozen=True)
class Reply:
    text: str
    tokens_in: int
    tokens_out: int
    model: str
    cut_short: bool = False  # the model stopped at max_tokens ("length") or the stream broke


class CoachModel(Protocol):
    def reply(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply: ...

    def stream(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Iterator[str | Reply]:
        """Yield text chunks (str), then exactly one final Reply with the usage (text = the whole text).

        When the provider sends no usage, tokens are counted with estimate_tokens.
        The generator may be closed early by the caller (GeneratorExit): clean up the HTTP stream.
        """
        ...


# --- storage (the coaching helper's side; not part of the model contract) -----------------------
class CoachingRepository(Protocol):
    """Storage of workspaces and everything in them. Getters return copies; lists are keyset pages
    newest first (id descending, `before` an id) unless they say otherwise. Never commits."""

    def add_workspace(self, workspace: Workspace) -> None: ...
    def get_workspace(self, workspace_id: str) -> Workspace | None: ...
    def get_workspace_for_update(self, workspace_id: str) -> Workspace | None:
        """Locks the workspace row until the unit of work ends: creating a task in it and deleting
        it serialise (issue 19, defect 7)."""

    def update_workspace(self, workspace: Workspace) -> None: ...
    def delete_workspace(self, workspace_id: str) -> None:
        """The workspace and everything in it: goals, todos, sessions, messages, tasks."""

    def list_workspaces(self, owner_id: str, *, limit: int, before: str | None) -> list[Workspace]: ...

    def add_goal(self, goal: Goal) -> None: ...
    def get_goal(self, goal_id: str) -> Goal | None: ...
    def update_goal(self, goal: Goal) -> None: ...
    def delete_goal(self, goal_id: str) -> None:
        """The goal; its todos stay, detached (goal_id None)."""

    def list_goals(
        self, workspace_id: str, *, limit: int, before: str | None, status: GoalStatus | None = None
    ) -> list[Goal]: ...

    def add_todo(self, todo: Todo) -> None: ...
    def get_todo(self, todo_id: str) -> Todo | None: ...
    def update_todo(self, todo: Todo) -> None: ...
    def delete_todo(self, todo_id: str) -> None: ...
    def list_todos(
        self,
        workspace_id: str,
        *,
        limit: int,
        before: str | None,
        statuses: Sequence[TodoStatus] | None = None,
        goal_id: str | None = None,
    ) -> list[Todo]: ...

    def add_session(self, session: ChatSession) -> None: ...
    def get_session(self, session_id: str) -> ChatSession | None: ...
    def get_session_for_update(self, session_id: str) -> ChatSession | None:
        """Locks the session row until the unit of work ends (messages take their seq from it)."""

    def get_session_with_workspace(self, session_id: str) -> tuple[ChatSession, Workspace] | None:
        """The session and its workspace in one read (a chat message's first check)."""

    def update_session(self, session: ChatSession) -> None: ...
    def delete_session(self, session_id: str) -> None:
        """The session and its messages."""

    def list_sessions(
        self, workspace_id: str, *, limit: int, before: str | None, owner_id: str | None = None
    ) -> list[ChatSession]:
        """Sessions of the workspace (only `owner_id`'s when given)."""

    def add_message(self, message: Message) -> None:
        """Raises DuplicateRecord when a user message's idempotency_key is already stored."""

    def add_messages(self, messages: Sequence[Message]) -> None:
        """`add_message` for each, in order (an exchange: one round trip on SQL)."""

    def list_messages(self, session_id: str, *, limit: int, after_seq: int | None) -> list[Message]:
        """Oldest first (seq ascending), seq > after_seq."""

    def recent_messages(self, session_id: str, limit: int) -> list[Message]:
        """The newest `limit` messages, oldest first."""

    def recent_turns(self, session_id: str, limit: int) -> list[Turn]:
        """The newest `limit` messages' role and content (all a prompt needs), oldest first."""

    def context_goals(self, workspace_id: str, limit: int) -> list[GoalBrief]:
        """The newest `limit` active goals (id descending), only the columns a prompt shows."""

    def context_todos(self, workspace_id: str, limit: int) -> list[TodoBrief]:
        """The newest `limit` open or in-progress todos (id descending), only the columns a prompt shows."""

    def get_message_by_key(self, idempotency_key: str) -> Message | None: ...
    def get_message_by_seq(self, session_id: str, seq: int) -> Message | None: ...
    def unsettled_messages(self, created_before: datetime, limit: int) -> list[Message]: ...
    def update_message(self, message: Message) -> None: ...
    def lock_sessions(self, workspace_id: str) -> None:
        """Lock every session row of the workspace until the unit of work ends (messages are stored
        under their session's lock, so a deletion that holds them sees every stored message)."""

    def unsettled_messages_in(self, workspace_id: str, session_id: str | None = None) -> list[Message]:
        """Stored but not yet captured answers of a workspace (or of one of its sessions); a
        locking read (the newest committed rows, whatever the transaction's snapshot)."""

    def add_claim(self, claim: Claim) -> None:
        """Raises DuplicateRecord when the key is already claimed."""

    def get_claim(self, idempotency_key: str) -> Claim | None: ...
    def renew_claim(self, idempotency_key: str, seen: datetime, now: datetime) -> bool:
        """Take over a stale claim: True only for the one caller whose `seen` still matched."""

    def release_claim(self, idempotency_key: str) -> None: ...

    def add_task(self, task: Task) -> None:
        """Raises DuplicateRecord when the task's idempotency_key is already stored."""

    def get_task(self, task_id: str) -> Task | None: ...
    def get_task_for_update(self, task_id: str) -> Task | None: ...
    def get_task_by_key(self, idempotency_key: str) -> Task | None: ...
    def update_task(self, task: Task) -> None: ...
    def list_tasks(
        self, owner_id: str, *, limit: int, before: str | None, status: TaskStatus | None = None
    ) -> list[Task]: ...
    def tasks_of_workspace(self, workspace_id: str) -> list[Task]: ...
    def stuck_tasks(self, started_before: datetime, queued_before: datetime, limit: int) -> list[Task]:
        """Running tasks started before `started_before`, queued ones created before `queued_before`."""

    def unsettled_tasks(self, finished_before: datetime, limit: int) -> list[Task]: ...


class TeamsRepository(Protocol):
    """Memberships and invitations (issue 23). Getters return copies. Never commits."""

    def get_member(self, workspace_id: str, user_id: str) -> Membership | None: ...
    def add_member(self, membership: Membership) -> None:
        """Raises DuplicateRecord when the user is already a member."""

    def update_member(self, membership: Membership) -> None: ...
    def remove_member(self, workspace_id: str, user_id: str) -> None: ...
    def list_members(self, workspace_id: str) -> list[MemberView]:
        """Every membership row of the workspace (the owner has none) with e-mail and name, by user id."""

    def contact(self, user_id: str) -> tuple[str, str | None] | None:
        """A user's (e-mail, name), or None when there is no such user."""

    def user_id_by_email(self, email: str) -> str | None: ...
    def workspaces_of(self, user_id: str, *, limit: int, before: str | None) -> list[tuple[Workspace, Role]]:
        """Workspaces the user owns or is a member of, with the user's role, id descending."""

    def add_invitation(self, invitation: Invitation) -> None: ...
    def get_invitation(self, invitation_id: str) -> Invitation | None: ...
    def update_invitation(self, invitation: Invitation) -> None: ...
    def pending_invitation(self, workspace_id: str, email: str) -> Invitation | None:
        """The stored-pending invitation of this address to this workspace, if any (expired or not)."""

    def invitations_of_workspace(self, workspace_id: str, *, limit: int, before: str | None) -> list[Invitation]: ...
    def invitations_for(self, email: str, *, limit: int, before: str | None) -> list[Invitation]:
        """Stored-pending invitations to this address, id descending."""

    def delete_workspace_teams(self, workspace_id: str) -> None:
        """The workspace's memberships and invitations (before the workspace is deleted)."""


class CoachingUnitOfWork(UnitOfWork, Protocol):
    """Coaching's storage and the ledger's, in one transaction: a chat message's checks and hold
    commit together, and so do its answer and its charge (CreditHolds.hold_within/capture_within)."""

    @property
    def coaching(self) -> CoachingRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def teams(self) -> TeamsRepository: ...
    @property
    def budgets(self) -> BudgetRepository: ...
