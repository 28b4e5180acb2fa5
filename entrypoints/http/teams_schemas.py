"""Schemas of the teams routes (issue 23), written against API.md's Teams table."""

from __future__ import annotations

import marshmallow as ma

from domain.coaching.members import EMAIL_MAX, INVITABLE, InvitationStatus
from domain.coaching.model import Role
from domain.shared.ids import ID_MAX_LENGTH
from entrypoints.http.coaching_schemas import monthly_limit
from entrypoints.http.identity_schemas import EmailField
from entrypoints.http.schemas import UtcDateTime, page_schema

ID_MAX = ID_MAX_LENGTH


def _role(values: tuple[Role, ...], **kwargs: object) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.OneOf([r.value for r in values]), **kwargs)  # type: ignore[arg-type]


class InvitationCreateSchema(ma.Schema):
    email = EmailField(required=True, validate=ma.validate.Length(max=EMAIL_MAX))
    role = _role(INVITABLE, required=True)


class InvitationSchema(ma.Schema):
    id = ma.fields.String(required=True)
    workspace_id = ma.fields.String(required=True)
    workspace_name = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    role = ma.fields.Enum(Role, by_value=True, required=True, metadata={"type": "string"})
    status = ma.fields.Enum(InvitationStatus, by_value=True, required=True, metadata={"type": "string"})
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(required=True)


InvitationPageSchema = page_schema(InvitationSchema, "InvitationPage")


class MemberSchema(ma.Schema):
    user_id = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    name = ma.fields.String(required=True, allow_none=True)
    role = ma.fields.Enum(Role, by_value=True, required=True, metadata={"type": "string"})
    monthly_credit_limit = ma.fields.Integer(required=True, allow_none=True)
    joined_at = UtcDateTime(required=True)


MemberPageSchema = page_schema(MemberSchema, "MemberPage")


class MemberListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MemberSchema), required=True)


class MemberPatchSchema(ma.Schema):
    role = _role(INVITABLE)
    monthly_credit_limit = monthly_limit()


class TransferSchema(ma.Schema):
    user_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=ID_MAX),
        metadata={"description": "An admin of the workspace"},
    )


class UsageArgsSchema(ma.Schema):
    month = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^2\d{3}-(0[1-9]|1[0-2])$"),
        metadata={"description": "YYYY-MM (years 2000-2999, UTC); the current month when left out"},
    )


class WorkspaceUsageSchema(ma.Schema):
    month = ma.fields.String(required=True)
    total = ma.fields.Integer(
        required=True, metadata={"description": "Credits used in the workspace (captured plus held)"}
    )
    limit = ma.fields.Integer(required=True, allow_none=True)
    by_member = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={"description": "Every member for the owner and admins; one's own otherwise"},
    )
    member_limits = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(allow_none=True), required=True)
