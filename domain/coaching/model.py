"""Workspaces, SMART goals, todos, chat sessions and messages, AI tasks, coaches; and the input limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from domain.shared.errors import InvalidInput

# Input limits (the HTTP schemas import these; one number in one place).
TITLE_MAX = 200  # titles and names
TEXT_MAX = 2000  # descriptions and SMART notes
INDUSTRY_MAX = 100
CONTENT_MAX = 8000  # a chat message, a task's input
HISTORY_MAX = 200  # messages of history sent to the model; older ones are dropped (not summarised)
PROGRESS_MAX = 100
# What the coach model adapter admits from a provider, so that storage always fits (issue 19):
REPLY_MAX_BYTES = 60_000  # an assistant message's text in UTF-8 (MariaDB TEXT holds 65,535 bytes)
MODEL_NAME_MAX = 200  # coaching_messages.model is String(200)
TOKENS_MAX = 2**31 - 1  # coaching_messages.tokens_in/tokens_out are Integer


class GoalStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    DROPPED = "dropped"


class TodoStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class Role(StrEnum):
    """A person's role in a workspace (policy.py says what each may do; members.py holds memberships)."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


@dataclass(slots=True)
class Workspace:
    id: str
    owner_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    industry: str | None = None
    description: str | None = None
    monthly_credit_limit: int | None = None  # issue 23: the cap on all spending in it per UTC month


@dataclass(slots=True)
class Goal:
    id: str
    workspace_id: str
    title: str
    status: GoalStatus
    progress: int
    created_at: datetime
    updated_at: datetime
    specific: str | None = None
    measurable: str | None = None
    target_value: str | None = None
    achievable: str | None = None
    relevant: str | None = None
    due_date: date | None = None


@dataclass(slots=True)
class Todo:
    id: str
    workspace_id: str
    title: str
    status: TodoStatus
    created_at: datetime
    updated_at: datetime
    goal_id: str | None = None
    due_date: date | None = None


@dataclass(frozen=True, slots=True)
class GoalBrief:
    """What a prompt shows of an active goal: the context read fetches only these columns."""

    id: str
    title: str
    progress: int
    created_at: datetime
    specific: str | None = None
    measurable: str | None = None
    target_value: str | None = None
    achievable: str | None = None
    relevant: str | None = None
    due_date: date | None = None


@dataclass(frozen=True, slots=True)
class TodoBrief:
    """What a prompt shows of an open todo."""

    id: str
    title: str
    status: TodoStatus
    created_at: datetime
    goal_id: str | None = None
    due_date: date | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the history as the model is sent it."""

    role: str
    content: str


@dataclass(slots=True)
class ChatSession:
    id: str
    workspace_id: str
    owner_id: str
    title: str | None
    coach: str
    created_at: datetime
    updated_at: datetime
    message_count: int = 0  # also the seq of the newest message


@dataclass(slots=True)
class Message:
    """One stored message. The assistant's carries the usage and what it cost. It is stored and
    charged in one transaction (settled); `settled=False` marks an answer an earlier release stored
    before capturing its hold, which the settle sweep (or a deletion) still captures."""

    id: str
    session_id: str
    seq: int
    role: str  # "user" | "assistant"
    content: str
    created_at: datetime
    tokens_in: int = 0
    tokens_out: int = 0
    credits_charged: int = 0
    model: str | None = None
    cut_short: bool = False
    idempotency_key: str | None = None  # on the user message: the exchange's key
    fingerprint: str | None = None  # on the user message: what the request was (replays check it)
    hold_id: str | None = None  # on the assistant message
    settled: bool = True
    account_id: str | None = None  # who sent the exchange and pays for it


@dataclass(slots=True)
class Task:
    id: str
    owner_id: str
    workspace_id: str
    type: str
    input: dict[str, Any]
    status: TaskStatus
    credits_held: int
    created_at: datetime
    updated_at: datetime
    hold_id: str | None = None
    credits_charged: int = 0
    result: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    settled: bool = True  # False: succeeded and stored, capture not yet confirmed
    idempotency_key: str | None = None
    fingerprint: str | None = None
    payer_id: str | None = None  # issue 23: whose credits the hold is on (the workspace's owner then)


@dataclass(frozen=True, slots=True)
class Coach:
    """A coach persona from the catalogue (configuration, not storage)."""

    id: str
    name: str
    description: str
    system_prompt: str
    model: str | None
    temperature: float
    max_reply_tokens: int
    price_multiplier: float = 1.0


def check_length(field: str, value: str | None, maximum: int, *, required: bool = False) -> None:
    """422 naming the field when `value` is empty (and required) or longer than `maximum`."""
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required.", details={field: "Required."})
        return
    if required and not value:
        raise InvalidInput(f"{field} must not be empty.", details={field: "Must not be empty."})
    if len(value) > maximum:
        raise InvalidInput(
            f"{field} is longer than {maximum} characters.", details={field: f"At most {maximum} characters."}
        )


def check_progress(progress: int) -> None:
    if not 0 <= progress <= PROGRESS_MAX:
        raise InvalidInput("progress must be between 0 and 100.", details={"progress": "Between 0 and 100."})


@dataclass
class Claim:
    """An Idempotency-Key claimed by a chat message before its model call (issue 19): a duplicate
    that finds it waits for the first result or gets 409 request_in_progress, never a second call."""

    idempotency_key: str
    fingerprint: str
    created_at: datetime
