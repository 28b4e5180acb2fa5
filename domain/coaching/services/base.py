"""What every group of coaching use cases shares: the configuration, the policy check and the
prompt's context (functions of a unit of work), keyset pages and keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from domain.coaching.errors import UnknownTaskType
from domain.coaching.model import Coach, GoalBrief, Role, TodoBrief, Workspace
from domain.coaching.policy import Action, authorize, role_of
from domain.coaching.ports import CoachingUnitOfWork
from domain.coaching.pricing import ChatPricing
from domain.coaching.prompts import CONTEXT_GOALS, CONTEXT_TODOS, TASK_INSTRUCTIONS
from domain.ledger.errors import UnknownFeature
from domain.ledger.model import PriceList
from domain.shared.errors import Unavailable

T = TypeVar("T")
DEFAULT_COACH = "houston"


@dataclass(frozen=True, slots=True)
class CoachingConfig:
    """Tunables from settings (entrypoints/config.py) and the price list."""

    prices: PriceList  # coach.message, coach.tokens_1k, task.<type>; read at each use, like the ledger does
    min_reply_tokens: int = 64  # the smallest reply cap worth calling the model for
    chat_hold_ttl: int = 900  # seconds; a chat hold outlives the slowest model call with retries
    task_timeout: int = 600  # seconds a task may run before the sweep fails it
    task_queue_timeout: int = 3600  # seconds a task may wait queued before the sweep fails it
    settle_grace: int = 60  # seconds before the sweep settles a stored but uncaptured charge
    task_max_tokens: int = 1200
    invitation_ttl_days: int = 7  # issue 23: INVITATION_TTL_DAYS

    @property
    def task_hold_ttl(self) -> int:
        return self.task_queue_timeout + self.task_timeout + 300

    @property
    def pricing(self) -> ChatPricing:
        try:
            return ChatPricing(base=self.prices.cost("coach.message", 1), per_1k=self.prices.cost("coach.tokens_1k", 1))
        except UnknownFeature:
            raise Unavailable("Chat is not priced: the price list has no coach.message or coach.tokens_1k.") from None

    def task_price(self, task_type: str) -> int:
        if task_type not in TASK_INSTRUCTIONS:
            raise UnknownTaskType(task_type)
        try:
            return self.prices.cost(f"task.{task_type}", 1)
        except UnknownFeature:
            raise UnknownTaskType(task_type) from None


# --- the policy and the prompt's context, given a unit of work: every group of use cases asks here ---
def access(uow: CoachingUnitOfWork, workspace_id: str, user_id: str, action: Action) -> Workspace:
    """The workspace, when `user_id` may do `action` in it; 404 otherwise (policy.py)."""
    return authorized(uow, uow.coaching.get_workspace(workspace_id), user_id, action)


def access_within(
    uow: CoachingUnitOfWork, workspace_id: str | None, user_id: str, action: Action, what: str
) -> Workspace:
    """Access to a thing inside a workspace (returned); a missing thing is 404 like a forbidden one."""
    workspace = uow.coaching.get_workspace(workspace_id) if workspace_id else None
    return authorized(uow, workspace, user_id, action, what)


def authorized(
    uow: CoachingUnitOfWork, workspace: Workspace | None, user_id: str, action: Action, what: str = "workspace"
) -> Workspace:
    """The policy, given the caller's membership read in this unit of work (the owner needs none)."""
    membership = None
    if workspace is not None and workspace.owner_id != user_id:
        membership = uow.teams.get_member(workspace.id, user_id)
    return authorize(workspace, user_id, action, what=what, membership=membership)


def role_in(uow: CoachingUnitOfWork, workspace: Workspace, user_id: str) -> Role | None:
    membership = None if workspace.owner_id == user_id else uow.teams.get_member(workspace.id, user_id)
    return role_of(workspace, user_id, membership)


def prompt_context(uow: CoachingUnitOfWork, workspace_id: str) -> tuple[list[GoalBrief], list[TodoBrief]]:
    """The workspace's active goals and open todos for a prompt, soonest due first (prompts.py);
    only the columns the prompt shows are read."""
    goals = uow.coaching.context_goals(workspace_id, CONTEXT_GOALS)
    todos = uow.coaching.context_todos(workspace_id, CONTEXT_TODOS)
    goals.sort(key=lambda g: (g.due_date is None, g.due_date or g.created_at.date(), g.id))
    todos.sort(key=lambda t: (t.due_date is None, t.due_date or t.created_at.date(), t.id))
    return goals, todos


def check_catalogue(coaches: Mapping[str, Coach]) -> None:
    if DEFAULT_COACH not in coaches:
        raise ValueError(f"the coach catalogue must have a {DEFAULT_COACH!r} coach")
