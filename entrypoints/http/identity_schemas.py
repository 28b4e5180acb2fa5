"""Request and response schemas of the identity routes, written by hand against API.md."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow.validate import Length, Regexp

from domain.identity.model import (
    API_KEY_NAME_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Role,
)
from entrypoints.http.schemas import UtcDateTime, page_schema

REFERRAL_CODE_MAX_LENGTH = 64
# What str.strip() removes, spelled out: `\s` means other characters in Python and in the
# ECMA-262 regexes OpenAPI clients use (U+001C-U+001F, U+0085 / U+FEFF).
PYTHON_WHITE_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = rf"^[\s\S]*[^{PYTHON_WHITE_SPACE}]"  # some character str.strip() keeps
OPAQUE_TOKEN_MAX_LENGTH = 512


class EmailField(ma.fields.Email):
    """An email, stripped before it is checked (the service lower-cases it)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _password(min_length: int) -> ma.fields.String:
    # Never cut: a password over the limit is refused (422), whatever its size in bytes.
    return ma.fields.String(required=True, load_only=True, validate=Length(min=min_length, max=PASSWORD_MAX_LENGTH))


def _name(max_length: int, **kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=Length(min=1, max=max_length), **kwargs)


# --- requests --------------------------------------------------------------------------------
class RegisterSchema(ma.Schema):
    email = EmailField(required=True, validate=Length(max=EMAIL_MAX_LENGTH))
    password = _password(PASSWORD_MIN_LENGTH)
    name = _name(NAME_MAX_LENGTH, load_default=None, allow_none=True)
    referral_code = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=Length(max=REFERRAL_CODE_MAX_LENGTH),
        metadata={"description": "A referrer's code (GET /v1/referrals); an unknown code is ignored."},
    )


class LoginSchema(ma.Schema):
    email = EmailField(required=True, validate=Length(max=EMAIL_MAX_LENGTH))
    password = _password(1)


class RefreshTokenSchema(ma.Schema):
    refresh_token = ma.fields.String(required=True, load_only=True, validate=Length(min=1, max=OPAQUE_TOKEN_MAX_LENGTH))


class UpdateMeSchema(ma.Schema):
    name = _name(NAME_MAX_LENGTH, allow_none=True, metadata={"description": "null clears the name"})


class CreateApiKeySchema(ma.Schema):
    # Unlike a display name, a key's name cannot be blank (the service strips it, then needs one).
    name = ma.fields.String(
        required=True,
        validate=[Length(min=1, max=API_KEY_NAME_MAX_LENGTH), Regexp(NOT_BLANK, error="Must not be blank.")],
    )


# --- responses -------------------------------------------------------------------------------
class UserSchema(ma.Schema):
    id = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    name = ma.fields.String(required=True, allow_none=True)
    role = ma.fields.Enum(Role, by_value=True, required=True)
    plan = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)


class AuthSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema, required=True)
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds the access token lives"})


class ApiKeySchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    prefix = ma.fields.String(required=True, metadata={"example": "hk_ab12cd34"})
    created_at = UtcDateTime(required=True)
    last_used_at = UtcDateTime(required=True, allow_none=True)


class CreatedApiKeySchema(ApiKeySchema):
    key = ma.fields.String(required=True, metadata={"description": "The whole key; shown only in this response"})


ApiKeyPageSchema = page_schema(ApiKeySchema, "ApiKeyPage")
UserPageSchema = page_schema(UserSchema, "UserPage")
