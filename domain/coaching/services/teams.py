"""Workspace members, invitations, ownership and budgets (issue 23).

route -> use case: /v1/workspaces/{id}/invitations, /v1/invitations -> invitations; /members ->
members; /transfer -> transfer_ownership; /usage -> workspace_usage. Every one asks the policy
(domain/coaching/policy.py) through `access` (base.py); a non-member (also a removed one) gets 404.

Decisions where issue 23 is silent:
- The owner has no membership row and no member cap: their own spending in the workspace counts
  against the workspace's cap only. An admin may manage admins, members and viewers, never the owner.
- An invitation to an address that already has a pending one in the workspace replaces nothing:
  409 `conflict` (revoke it first). Accepting when already a member is 409 too.
- Only a member with an admin role can receive ownership; the old owner becomes an admin.
  Holds placed before a transfer stay on the old owner's account and are settled there.
- A member who leaves or is removed keeps the usage they spent this month in the rollups (the
  workspace total does not shrink); their chat sessions stay, readable by the owner and admins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.coaching.members import (
    Invitation,
    InvitationNotFound,
    InvitationStatus,
    MemberNotFound,
    Membership,
    MemberView,
    OwnerIsFixed,
    check_email,
    check_limit_value,
    invitable_role,
)
from domain.coaching.model import Role, Workspace
from domain.coaching.policy import Action, may
from domain.coaching.ports import CoachingUnitOfWork
from domain.coaching.services.base import CoachingConfig, access, authorized, role_in
from domain.ledger.budgets import WORKSPACE_LEVEL
from domain.ledger.services.inputs import month_bounds
from domain.platform import emitters
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page, check_limit, id_cursor, page_of
from domain.shared.uow import transaction


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """A workspace as its reader sees it: with the reader's role in it."""

    id: str
    owner_id: str
    name: str
    industry: str | None
    description: str | None
    monthly_credit_limit: int | None
    role: Role
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(workspace: Workspace, role: Role) -> WorkspaceView:
        return WorkspaceView(
            id=workspace.id,
            owner_id=workspace.owner_id,
            name=workspace.name,
            industry=workspace.industry,
            description=workspace.description,
            monthly_credit_limit=workspace.monthly_credit_limit,
            role=role,
            created_at=workspace.created_at,
            updated_at=workspace.updated_at,
        )


@dataclass(frozen=True, slots=True)
class InvitationView:
    id: str
    workspace_id: str
    workspace_name: str
    email: str
    role: Role
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class WorkspaceUsage:
    month: str
    total: int  # credits used in the workspace this month (captured plus still held)
    limit: int | None
    by_member: dict[str, int]  # all members for owner/admin; only the caller's own for others
    member_limits: dict[str, int | None]


MAX_ANNOUNCED = 100  # pending invitations told to a newcomer at sign-up (the rest are in GET /v1/invitations)


class TeamUseCases:
    """Invitations, members, ownership and the workspace's usage against its caps (issue 23)."""

    def __init__(
        self, *, uow: Callable[[], CoachingUnitOfWork], clock: Clock, ids: IdGenerator, config: CoachingConfig
    ) -> None:
        self._uow, self._clock, self._ids, self._config = uow, clock, ids, config

    # --- invitations -------------------------------------------------------------------------------
    def invite(self, user_id: str, workspace_id: str, *, email: str, role: str) -> InvitationView:
        address, wanted = check_email(email), invitable_role(role)
        now = self._clock.now()

        def work(uow: CoachingUnitOfWork) -> InvitationView:
            workspace = access(uow, workspace_id, user_id, Action.MEMBERS)
            invitee = uow.teams.user_id_by_email(address)
            if invitee is not None and role_in(uow, workspace, invitee) is not None:
                raise Conflict("That person is already in this workspace.")
            existing = uow.teams.pending_invitation(workspace_id, address)
            if existing is not None and existing.status_at(now) is InvitationStatus.PENDING:
                raise Conflict("That address already has a pending invitation; revoke it first.")
            if existing is not None:  # expired: closed now, so that one address has one pending invitation
                existing.status = InvitationStatus.REVOKED
                uow.teams.update_invitation(existing)
            invitation = Invitation(
                id=self._ids.new_id("inv"),
                workspace_id=workspace_id,
                email=address,
                role=wanted,
                invited_by=user_id,
                status=InvitationStatus.PENDING,
                created_at=now,
                expires_at=now + timedelta(days=self._config.invitation_ttl_days),
            )
            uow.teams.add_invitation(invitation)
            if invitee is not None:  # an address with no account sees it in GET /v1/invitations once registered
                emitters.invitation(uow, invitation, invitee, workspace.name, now)
            return _view(invitation, workspace.name, now)

        return transaction(self._uow, work)

    def workspace_invitations(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[InvitationView]:
        check_limit(limit)
        now = self._clock.now()
        with self._uow() as uow:
            workspace = access(uow, workspace_id, user_id, Action.MEMBERS)
            rows = uow.teams.invitations_of_workspace(workspace_id, limit=limit + 1, before=id_cursor(cursor))
        page = page_of(rows, limit, lambda i: {"id": i.id})
        return Page(items=[_view(i, workspace.name, now) for i in page.items], next_cursor=page.next_cursor)

    def revoke_invitation(self, user_id: str, workspace_id: str, invitation_id: str) -> None:
        now = self._clock.now()

        def work(uow: CoachingUnitOfWork) -> None:
            access(uow, workspace_id, user_id, Action.MEMBERS)
            invitation = uow.teams.get_invitation(invitation_id)
            if invitation is None or invitation.workspace_id != workspace_id:
                raise InvitationNotFound()
            invitation.respond(InvitationStatus.REVOKED, now)
            uow.teams.update_invitation(invitation)

        transaction(self._uow, work)

    def on_user_created(self, uow: CoachingUnitOfWork, user: Any) -> None:
        """A newcomer is told of each pending invitation to their address (`workspace.invitation`:
        in the app, and by e-mail), in the registering transaction (identity's `on_user_created`
        hook): an invitation sent before the account existed had nobody to notify. Each is told once
        (the event is keyed by the invitation); expired ones are not."""
        now = self._clock.now()
        for invitation in uow.teams.invitations_for(user.email, limit=MAX_ANNOUNCED, before=None):
            if invitation.status_at(now) is InvitationStatus.PENDING:
                emitters.invitation(uow, invitation, user.id, self._workspace_name(uow, invitation.workspace_id), now)

    def my_invitations(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[InvitationView]:
        """Pending invitations to the caller's e-mail address (expired ones are left out)."""
        check_limit(limit)
        now = self._clock.now()
        with self._uow() as uow:
            email = self._email(uow, user_id)
            rows = uow.teams.invitations_for(email, limit=limit + 1, before=id_cursor(cursor))
            names = {i.workspace_id: self._workspace_name(uow, i.workspace_id) for i in rows}
        page = page_of(rows, limit, lambda i: {"id": i.id})
        items = [
            _view(i, names[i.workspace_id], now) for i in page.items if i.status_at(now) is InvitationStatus.PENDING
        ]
        return Page(items=items, next_cursor=page.next_cursor)

    def respond_to_invitation(self, user_id: str, invitation_id: str, *, accept: bool) -> InvitationView:
        now = self._clock.now()

        def work(uow: CoachingUnitOfWork) -> InvitationView:
            invitation = self._my_invitation(uow, user_id, invitation_id)
            workspace = uow.coaching.get_workspace_for_update(invitation.workspace_id)
            if workspace is None:
                raise InvitationNotFound()
            invitation.respond(InvitationStatus.ACCEPTED if accept else InvitationStatus.DECLINED, now)
            uow.teams.update_invitation(invitation)
            if accept:
                if role_in(uow, workspace, user_id) is not None:
                    raise Conflict("You are already in this workspace.")
                uow.teams.add_member(Membership(workspace.id, user_id, invitation.role, now))
            return _view(invitation, workspace.name, now)

        return transaction(self._uow, work)

    def _my_invitation(self, uow: CoachingUnitOfWork, user_id: str, invitation_id: str) -> Invitation:
        invitation = uow.teams.get_invitation(invitation_id)
        if invitation is None or invitation.email != self._email(uow, user_id):
            raise InvitationNotFound()  # someone else's invitation is not found, like a workspace
        return invitation

    # --- members -----------------------------------------------------------------------------------
    def members(
        self, user_id: str, workspace_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[MemberView]:
        """The owner and every member, by user id (any role may read the list)."""
        check_limit(limit)
        after = id_cursor(cursor)
        with self._uow() as uow:
            workspace = access(uow, workspace_id, user_id, Action.READ)
            email, name = uow.teams.contact(workspace.owner_id) or ("", None)
            owner = MemberView(workspace.owner_id, email, name, Role.OWNER, None, workspace.created_at)
            everyone = sorted([owner, *uow.teams.list_members(workspace_id)], key=lambda m: m.user_id)
        rows = [m for m in everyone if after is None or m.user_id > after][: limit + 1]
        return page_of(rows, limit, lambda m: {"id": m.user_id})

    def update_member(self, user_id: str, workspace_id: str, member_id: str, changes: Mapping[str, Any]) -> MemberView:
        """Change a member's role (not to or from owner) and/or monthly credit limit (owner, admin)."""
        role = invitable_role(changes["role"]) if changes.get("role") is not None else None
        if "monthly_credit_limit" in changes:
            check_limit_value(changes["monthly_credit_limit"])

        def work(uow: CoachingUnitOfWork) -> MemberView:
            workspace = access(uow, workspace_id, user_id, Action.MEMBERS)
            if member_id == workspace.owner_id:
                raise OwnerIsFixed()
            membership = uow.teams.get_member(workspace_id, member_id)
            if membership is None:
                raise MemberNotFound()
            if role is not None:
                membership.role = role
            if "monthly_credit_limit" in changes:
                membership.monthly_credit_limit = changes["monthly_credit_limit"]
            uow.teams.update_member(membership)
            return next(m for m in uow.teams.list_members(workspace_id) if m.user_id == member_id)

        return transaction(self._uow, work)

    def remove_member(self, user_id: str, workspace_id: str, member_id: str) -> None:
        """Remove a member (owner, admin), or leave (anyone but the owner, for themself)."""

        def work(uow: CoachingUnitOfWork) -> None:
            action = Action.READ if member_id == user_id else Action.MEMBERS
            workspace = access(uow, workspace_id, user_id, action)
            if member_id == workspace.owner_id:
                raise OwnerIsFixed("The owner cannot be removed or leave; transfer ownership first.")
            if uow.teams.get_member(workspace_id, member_id) is None:
                raise MemberNotFound()
            uow.teams.remove_member(workspace_id, member_id)

        transaction(self._uow, work)

    def transfer_ownership(self, user_id: str, workspace_id: str, new_owner_id: str) -> WorkspaceView:
        """The owner hands the workspace (and its bills) to one of its admins, and becomes an admin."""
        now = self._clock.now()

        def work(uow: CoachingUnitOfWork) -> WorkspaceView:
            workspace = authorized(uow, uow.coaching.get_workspace_for_update(workspace_id), user_id, Action.OWN)
            heir = uow.teams.get_member(workspace_id, new_owner_id)
            if heir is None:
                raise MemberNotFound()
            if heir.role is not Role.ADMIN:
                raise InvalidInput("Ownership goes to an admin of the workspace.", details={"user_id": "Not an admin."})
            uow.teams.remove_member(workspace_id, new_owner_id)
            uow.teams.add_member(Membership(workspace_id, user_id, Role.ADMIN, now))
            workspace.owner_id, workspace.updated_at = new_owner_id, now
            uow.coaching.update_workspace(workspace)
            return WorkspaceView.of(workspace, Role.ADMIN)

        return transaction(self._uow, work)

    # --- budgets -----------------------------------------------------------------------------------
    def workspace_usage(self, user_id: str, workspace_id: str, month: str | None = None) -> WorkspaceUsage:
        month = month or self._clock.now().strftime("%Y-%m")
        month_bounds(month)  # 422 for anything but YYYY-MM
        with self._uow() as uow:
            workspace = access(uow, workspace_id, user_id, Action.READ)
            everyone = may(role_in(uow, workspace, user_id), Action.MEMBERS)
            rows = uow.budgets.usage_of_month(workspace_id, month)
            limits = {m.user_id: m.monthly_credit_limit for m in uow.teams.list_members(workspace_id)}
        total = rows.pop(WORKSPACE_LEVEL, 0)
        if not everyone:
            rows = {user_id: rows.get(user_id, 0)}
            limits = {user_id: limits.get(user_id)}
        return WorkspaceUsage(
            month=month,
            total=total,
            limit=workspace.monthly_credit_limit,
            by_member={k: v for k, v in sorted(rows.items())},
            member_limits=dict(sorted(limits.items())),
        )

    # --- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _email(uow: CoachingUnitOfWork, user_id: str) -> str:
        contact = uow.teams.contact(user_id)
        return contact[0] if contact else ""

    @staticmethod
    def _workspace_name(uow: CoachingUnitOfWork, workspace_id: str) -> str:
        workspace = uow.coaching.get_workspace(workspace_id)
        return workspace.name if workspace else ""


def _view(invitation: Invitation, workspace_name: str, now: datetime) -> InvitationView:
    return InvitationView(
        id=invitation.id,
        workspace_id=invitation.workspace_id,
        workspace_name=workspace_name,
        email=invitation.email,
        role=invitation.role,
        status=invitation.status_at(now),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


__all__ = ["InvitationView", "TeamUseCases", "WorkspaceUsage", "WorkspaceView"]
