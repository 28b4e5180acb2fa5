"""In-memory memberships, invitations and workspace budgets (issue 23): the same answers as SQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapters.memory.store import MemoryStore
from domain.coaching.members import Invitation, InvitationStatus, Membership, MemberView
from domain.coaching.model import Role, Workspace
from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope, Caps, Reservation
from domain.shared.errors import DuplicateRecord

MEMBERS, INVITATIONS = "workspace_members", "workspace_invitations"
USAGE, RESERVATIONS = "budget_usage", "budget_reservations"
WORKSPACES, USERS = "coaching_workspaces", "users"


class InMemoryTeamsRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    # members
    def get_member(self, workspace_id: str, user_id: str) -> Membership | None:
        found = self._t(MEMBERS).get((workspace_id, user_id))
        return replace(found) if found is not None else None

    def add_member(self, membership: Membership) -> None:
        key = (membership.workspace_id, membership.user_id)
        if key in self._t(MEMBERS):
            raise DuplicateRecord("Already a member.")
        self._t(MEMBERS)[key] = replace(membership)

    def update_member(self, membership: Membership) -> None:
        self._t(MEMBERS)[(membership.workspace_id, membership.user_id)] = replace(membership)

    def remove_member(self, workspace_id: str, user_id: str) -> None:
        self._t(MEMBERS).pop((workspace_id, user_id), None)

    def list_members(self, workspace_id: str) -> list[MemberView]:
        users = self._t(USERS)
        rows = sorted((m for m in self._t(MEMBERS).values() if m.workspace_id == workspace_id), key=lambda m: m.user_id)
        return [
            MemberView(
                m.user_id,
                users[m.user_id].email if m.user_id in users else "",
                users[m.user_id].name if m.user_id in users else None,
                m.role,
                m.monthly_credit_limit,
                m.joined_at,
            )
            for m in rows
        ]

    def contact(self, user_id: str) -> tuple[str, str | None] | None:
        user = self._t(USERS).get(user_id)
        return (user.email, user.name) if user is not None else None

    def user_id_by_email(self, email: str) -> str | None:
        return next((u.id for u in self._t(USERS).values() if u.email == email), None)

    def workspaces_of(self, user_id: str, *, limit: int, before: str | None) -> list[tuple[Workspace, Role]]:
        roles = {ws: m.role for (ws, uid), m in self._t(MEMBERS).items() if uid == user_id}
        found: list[tuple[Workspace, Role]] = []
        for workspace in self._t(WORKSPACES).values():
            role = Role.OWNER if workspace.owner_id == user_id else roles.get(workspace.id)
            if role is not None and (before is None or workspace.id < before):
                found.append((replace(workspace), role))
        found.sort(key=lambda pair: pair[0].id, reverse=True)
        return found[:limit]

    # invitations
    def add_invitation(self, invitation: Invitation) -> None:
        if invitation.id in self._t(INVITATIONS):
            raise DuplicateRecord("The record already exists.")
        self._t(INVITATIONS)[invitation.id] = replace(invitation)

    def get_invitation(self, invitation_id: str) -> Invitation | None:
        found = self._t(INVITATIONS).get(invitation_id)
        return replace(found) if found is not None else None

    def update_invitation(self, invitation: Invitation) -> None:
        self._t(INVITATIONS)[invitation.id] = replace(invitation)

    def pending_invitation(self, workspace_id: str, email: str) -> Invitation | None:
        return next(
            (
                replace(i)
                for i in self._t(INVITATIONS).values()
                if i.workspace_id == workspace_id and i.email == email and i.status is InvitationStatus.PENDING
            ),
            None,
        )

    def invitations_of_workspace(self, workspace_id: str, *, limit: int, before: str | None) -> list[Invitation]:
        return self._newest(lambda i: i.workspace_id == workspace_id, limit, before)

    def invitations_for(self, email: str, *, limit: int, before: str | None) -> list[Invitation]:
        return self._newest(lambda i: i.email == email and i.status is InvitationStatus.PENDING, limit, before)

    def _newest(self, keep: Any, limit: int, before: str | None) -> list[Invitation]:
        rows = [replace(i) for i in self._t(INVITATIONS).values() if keep(i) and (before is None or i.id < before)]
        rows.sort(key=lambda i: i.id, reverse=True)
        return rows[:limit]

    def delete_workspace_teams(self, workspace_id: str) -> None:
        for table in (MEMBERS, INVITATIONS):
            rows = self._t(table)
            for key in [k for k, row in rows.items() if row.workspace_id == workspace_id]:
                del rows[key]


class InMemoryBudgetRepository:
    """Caps come from the workspace and its memberships; usage and reservations are its own tables."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _t(self, name: str) -> dict[Any, Any]:
        return self._store.table(name)

    def caps_and_usage(self, scope: BudgetScope, month: str) -> tuple[Caps, int, int]:
        workspace = self._t(WORKSPACES).get(scope.budget_id)
        member = self._t(MEMBERS).get((scope.budget_id, scope.member_id))
        caps = Caps(
            budget=workspace.monthly_credit_limit if workspace is not None else None,
            member=member.monthly_credit_limit if member is not None else None,
        )
        return (
            caps,
            self.usage(scope.budget_id, WORKSPACE_LEVEL, month),
            self.usage(scope.budget_id, scope.member_id, month),
        )

    def usage(self, budget_id: str, member_id: str, month: str) -> int:
        return int(self._t(USAGE).get((budget_id, member_id, month), 0))

    def usage_of_month(self, budget_id: str, month: str, members: tuple[str, ...] | None = None) -> dict[str, int]:
        return {
            m: v
            for (b, m, mo), v in self._t(USAGE).items()
            if b == budget_id and mo == month and (members is None or m in members)
        }

    def add_usage(self, budget_id: str, members: tuple[str, ...], month: str, credits: int) -> None:
        for member_id in members:
            key = (budget_id, member_id, month)
            self._t(USAGE)[key] = self._t(USAGE).get(key, 0) + credits

    def add_reservation(self, reservation: Reservation) -> None:
        if reservation.hold_id in self._t(RESERVATIONS):
            raise DuplicateRecord("The hold already has a reservation.")
        self._t(RESERVATIONS)[reservation.hold_id] = reservation

    def take_reservation(self, hold_id: str) -> Reservation | None:
        found: Reservation | None = self._t(RESERVATIONS).pop(hold_id, None)
        return found
