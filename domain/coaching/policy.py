"""THE access policy for a workspace and everything in it (goals, todos, sessions, tasks).

Every use case that touches a workspace asks `authorize` first; nothing else decides access.
Today a workspace has one member, its owner. Members with roles (owner/admin/member/viewer)
come next: `role_of` will read a membership, and ALLOWED already says what each role may do,
so adding them changes this module only.

Someone with no role in a workspace gets `404 not_found`, never 403: whether a workspace exists
is itself private. A role that exists but may not do the action is `403 forbidden`.
"""
from __future__ import annotations

from enum import StrEnum

from domain.coaching.errors import WorkspaceNotFound
from domain.coaching.model import Role, Workspace
from domain.shared.errors import Forbidden


class Action(StrEnum):
    READ = "read"  # see the workspace and what is in it
    WRITE = "write"  # add and change goals, todos, sessions; chat; run tasks
    MANAGE = "manage"  # rename or delete the workspace


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action),
    Role.MEMBER: frozenset({Action.READ, Action.WRITE}),
    Role.VIEWER: frozenset({Action.READ}),
}


def role_of(workspace: Workspace, user_id: str) -> Role | None:
    return Role.OWNER if workspace.owner_id == user_id else None


def authorize(workspace: Workspace | None, user_id: str, action: Action, *, what: str = "workspace") -> Workspace:
    """The workspace when `user_id` may do `action` in it; else 404 (no role) or 403 (role too low).
    `what` names the resource in the 404's message (a goal of someone else's is "No such goal.")."""
    if workspace is None:
        raise WorkspaceNotFound(what)
    role = role_of(workspace, user_id)
    if role is None:
        raise WorkspaceNotFound(what)
    if action not in ALLOWED[role]:
        raise Forbidden(f"Your role in this workspace may not {action.value}.")
    return workspace
