"""Schemas of the notification routes (API.md, Platform)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow.validate import Length

from domain.platform.notifications_model import NOTIFICATION_TYPES
from entrypoints.http.schemas import PageArgsSchema, UtcDateTime


class InboxArgsSchema(PageArgsSchema):
    unread = ma.fields.Boolean(load_default=False)


class NotificationSchema(ma.Schema):
    id = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    data = ma.fields.Dict(required=True)
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(allow_none=True, required=True)


class InboxSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(NotificationSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)
    unread_count = ma.fields.Integer(required=True)


class UpdatedSchema(ma.Schema):
    updated = ma.fields.Integer(required=True)


class ChannelsSchema(ma.Schema):
    in_app = ma.fields.Boolean(required=True)
    email = ma.fields.Boolean(required=True)


class ChannelsPatchSchema(ma.Schema):
    in_app = ma.fields.Boolean()
    email = ma.fields.Boolean()


PreferencesSchema = ma.Schema.from_dict(
    {type_: ma.fields.Nested(ChannelsSchema, required=True) for type_ in NOTIFICATION_TYPES},
    name="NotificationPreferences",
)
PreferencesPatchSchema = ma.Schema.from_dict(
    {type_: ma.fields.Nested(ChannelsPatchSchema) for type_ in NOTIFICATION_TYPES},
    name="NotificationPreferencesPatch",
)


class UnsubscribeArgsSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=Length(min=1, max=400))
