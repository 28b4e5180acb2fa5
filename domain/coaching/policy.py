"""THE access policy for a workspace and everything in it (goals, todos, sessions, tasks).

Every use case that touches a workspace asks `authorize` first; nothing else decides access.
`role_of` reads the caller's membership (issue 23): the workspace's `owner_id` is its owner, and
everyone else has a membership row (domain/coaching/members.py) the caller passes in, read in
the same unit of work. ALLOWED says what each role may do.

Someone with no role in a workspace gets `404 not_found`, never 403: whether a workspace exists
is itself private. A role that exists but may not do the action is `403 forbidden`.
"""

from __future__ import annotations

from enum import StrEnum

from domain.coaching.errors import WorkspaceNotFound
from domain.coaching.members import Membership
from domain.coaching.model import Role, Workspace
from domain.shared.errors import Forbidden


class Action(StrEnum):
    READ = "read"  # see the workspace and what is in it
    WRITE = "write"  # add and change goals, todos, sessions; chat; run tasks
    MANAGE = "manage"  # rename the workspace, set its monthly credit limit
    MEMBERS = "members"  # invite, change roles and member limits, remove; read every session and all usage
    OWN = "own"  # delete the workspace, transfer its ownership


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action) - {Action.OWN},
    Role.MEMBER: frozenset({Action.READ, Action.WRITE}),
    Role.VIEWER: frozenset({Action.READ}),
}


def role_of(workspace: Workspace, user_id: str, membership: Membership | None = None) -> Role | None:
    if workspace.owner_id == user_id:
        return Role.OWNER
    if membership is not None and membership.workspace_id == workspace.id and membership.user_id == user_id:
        return membership.role
    return None


def may(role: Role | None, action: Action) -> bool:
    return role is not None and action in ALLOWED[role]


def authorize(
    workspace: Workspace | None,
    user_id: str,
    action: Action,
    *,
    what: str = "workspace",
    membership: Membership | None = None,
) -> Workspace:
    """The workspace when `user_id` may do `action` in it; else 404 (no role) or 403 (role too low).
    `what` names the resource in the 404's message (a goal of someone else's is "No such goal.").
    A removed member has no membership any more: 404, whatever their token says."""
    if workspace is None:
        raise WorkspaceNotFound(what)
    role = role_of(workspace, user_id, membership)
    if role is None:
        raise WorkspaceNotFound(what)
    if action not in ALLOWED[role]:
        raise Forbidden(f"Your role in this workspace may not {action.value}.")
    return workspace
