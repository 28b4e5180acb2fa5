"""Schemas of the operations routes: login history, audit log, admin directory (issue 15)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow.validate import Length, OneOf

from domain.identity.model import Role
from domain.platform.model import AUDIT_FILTER_MAX_LENGTH, SEARCH_MAX_LENGTH
from domain.shared.limits import CATALOGUE_ID_MAX_LENGTH
from entrypoints.http.identity_schemas import UserSchema
from entrypoints.http.schemas import PageArgsSchema, UtcDateTime, page_schema


class LoginAttemptSchema(ma.Schema):
    id = ma.fields.String(required=True)
    at = UtcDateTime(required=True)
    event = ma.fields.Function(
        lambda a: a.event.value,
        required=True,
        metadata={
            "enum": ["login", "refresh_reuse", "logout"],
            "description": "login: a password sign-in; refresh_reuse: a spent refresh token came back and "
            "its family was revoked; logout: a refresh family revoked by its owner",
        },
    )
    ip = ma.fields.String(required=True, allow_none=True)
    user_agent = ma.fields.String(required=True, allow_none=True)
    success = ma.fields.Boolean(required=True)
    reason = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Why it failed: wrong_password, unknown_email, refresh_token_reused"},
    )


LoginAttemptPageSchema = page_schema(LoginAttemptSchema, "LoginAttemptPage")


class AuditRecordSchema(ma.Schema):
    id = ma.fields.String(required=True)
    at = UtcDateTime(required=True)
    actor_id = ma.fields.String(required=True, allow_none=True, metadata={"description": "null: the system"})
    action = ma.fields.String(required=True, metadata={"example": "user.role_changed"})
    subject_type = ma.fields.String(required=True, metadata={"example": "user"})
    subject_id = ma.fields.String(required=True)
    details = ma.fields.Dict(keys=ma.fields.String(), required=True)


AuditRecordPageSchema = page_schema(AuditRecordSchema, "AuditRecordPage")


def _filter(description: str) -> ma.fields.String:
    return ma.fields.String(
        load_default=None, validate=Length(min=1, max=AUDIT_FILTER_MAX_LENGTH), metadata={"description": description}
    )


class AuditArgsSchema(PageArgsSchema):
    actor = _filter("Only records by this user id")
    action = _filter("Only this action, for example credits.adjusted")
    subject = _filter("Only records about this id (a user, an API key...)")


class AdminUserArgsSchema(PageArgsSchema):
    q = ma.fields.String(
        load_default=None,
        validate=Length(min=1, max=SEARCH_MAX_LENGTH),
        metadata={"description": "A user id (exact) or the start of an email (case-insensitive)"},
    )
    plan = ma.fields.String(load_default=None, validate=Length(min=1, max=CATALOGUE_ID_MAX_LENGTH))
    role = ma.fields.Enum(Role, by_value=True, load_default=None)


class AdminUserSchema(UserSchema):
    balance = ma.fields.Integer(required=True)
    available = ma.fields.Integer(required=True)


AdminUserPageSchema = page_schema(AdminUserSchema, "AdminUserPage")


class RoleChangeSchema(ma.Schema):
    role = ma.fields.String(required=True, validate=OneOf([r.value for r in Role]))
