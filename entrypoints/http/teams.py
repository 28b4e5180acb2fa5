"""Teams (issue 23): invitations, members, ownership transfer and workspace usage.

Every route asks the use cases (domain/coaching/services/teams.py), which ask the one access
policy: a non-member (also a removed member whose token is still valid) gets 404, a role too low
for the action 403. A workspace's own monthly limit is set with PATCH /v1/workspaces/{id}.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.coaching.services import Coaching
from entrypoints.http.api import USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal
from entrypoints.http.coaching_schemas import WorkspaceSchema
from entrypoints.http.context import container
from entrypoints.http.schemas import PageArgsSchema
from entrypoints.http.teams_schemas import (
    InvitationCreateSchema,
    InvitationPageSchema,
    InvitationSchema,
    MemberPageSchema,
    MemberPatchSchema,
    MemberSchema,
    TransferSchema,
    UsageArgsSchema,
    WorkspaceUsageSchema,
)

blp = Blueprint(
    "teams",
    __name__,
    url_prefix="/v1",
    description="Teams: workspace members, invitations, budgets",
    errors={
        403: "Your role in the workspace may not do this (forbidden)",
        404: "No such {what} (or not a member of its workspace) (not_found)",
        409: "The change contradicts the team's state: already a member, the owner, an invitation closed (conflict)",
    },
)


def teams() -> Coaching:
    return container().coaching


def me() -> str:
    return current_principal().user_id


@blp.route("/workspaces/<string:workspace_id>/invitations")
class WorkspaceInvitations(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, InvitationPageSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def get(self, args: dict[str, Any], workspace_id: str) -> Any:
        """The workspace's invitations, newest first (owner, admin)"""
        return teams().workspace_invitations(me(), workspace_id, **args)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(InvitationCreateSchema)
    @blp.response(201, InvitationSchema)
    @blp.errors(401, 403, 404, 409, 422, what="workspace")
    def post(self, body: dict[str, Any], workspace_id: str) -> Any:
        """Invite an e-mail address as admin, member or viewer (owner, admin); it expires after INVITATION_TTL_DAYS"""
        return teams().invite(me(), workspace_id, email=body["email"], role=body["role"])


@blp.route("/workspaces/<string:workspace_id>/invitations/<string:invitation_id>")
class WorkspaceInvitation(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 403, 404, 409, 422, what="invitation")
    def delete(self, workspace_id: str, invitation_id: str) -> None:
        """Revoke a pending invitation (owner, admin)"""
        teams().revoke_invitation(me(), workspace_id, invitation_id)


@blp.route("/invitations")
class MyInvitations(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, InvitationPageSchema)
    @blp.errors(401, 404, 422, what="invitation")
    def get(self, args: dict[str, Any]) -> Any:
        """Pending invitations to the caller's e-mail address, newest first"""
        return teams().my_invitations(me(), **args)


@blp.route("/invitations/<string:invitation_id>/accept")
class AcceptInvitation(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, InvitationSchema)
    @blp.errors(401, 404, 409, 422, what="invitation")
    def post(self, invitation_id: str) -> Any:
        """Accept an invitation: join the workspace with its role"""
        return teams().respond_to_invitation(me(), invitation_id, accept=True)


@blp.route("/invitations/<string:invitation_id>/decline")
class DeclineInvitation(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, InvitationSchema)
    @blp.errors(401, 404, 409, 422, what="invitation")
    def post(self, invitation_id: str) -> Any:
        """Decline an invitation"""
        return teams().respond_to_invitation(me(), invitation_id, accept=False)


@blp.route("/workspaces/<string:workspace_id>/members")
class Members(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, MemberPageSchema)
    @blp.errors(401, 404, 422, what="workspace")
    def get(self, args: dict[str, Any], workspace_id: str) -> Any:
        """The owner and the members, with roles and monthly credit limits (any member)"""
        return teams().members(me(), workspace_id, **args)


@blp.route("/workspaces/<string:workspace_id>/members/<string:user_id>")
class Member(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(MemberPatchSchema)
    @blp.response(200, MemberSchema)
    @blp.errors(401, 403, 404, 409, 422, what="member")
    def patch(self, body: dict[str, Any], workspace_id: str, user_id: str) -> Any:
        """Change a member's role or monthly credit limit (owner, admin; never the owner's)"""
        return teams().update_member(me(), workspace_id, user_id, body)

    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 403, 404, 409, 422, what="member")
    def delete(self, workspace_id: str, user_id: str) -> None:
        """Remove a member (owner, admin), or leave the workspace (one's own user id)"""
        teams().remove_member(me(), workspace_id, user_id)


@blp.route("/workspaces/<string:workspace_id>/transfer")
class Transfer(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(TransferSchema)
    @blp.response(200, WorkspaceSchema)
    @blp.errors(401, 403, 404, 422, what="workspace")
    def post(self, body: dict[str, Any], workspace_id: str) -> Any:
        """Transfer ownership (and the bills) to an admin; the owner becomes an admin (owner only)"""
        return teams().transfer_ownership(me(), workspace_id, body["user_id"])


@blp.route("/workspaces/<string:workspace_id>/usage")
class Usage(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(UsageArgsSchema, location="query")
    @blp.response(200, WorkspaceUsageSchema)
    @blp.errors(401, 404, 422, what="workspace")
    def get(self, args: dict[str, Any], workspace_id: str) -> Any:
        """Credits used this month (or `month`) in the workspace, per member (owner, admin) or one's own"""
        return teams().workspace_usage(me(), workspace_id, args["month"])
