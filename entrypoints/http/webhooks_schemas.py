"""Schemas of the webhook-endpoint routes (API.md, Platform)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow.validate import Length, OneOf

from domain.platform.webhooks import DESCRIPTION_MAX, MAX_EVENTS_PER_ENDPOINT
from domain.shared.events import EVENT_TYPES
from domain.shared.limits import URL_MAX_LENGTH
from entrypoints.http.schemas import UtcDateTime, page_schema

EVENT_TYPE = ma.fields.String(validate=OneOf(sorted(EVENT_TYPES)))


class EndpointCreateSchema(ma.Schema):
    url = ma.fields.String(required=True, validate=Length(min=1, max=URL_MAX_LENGTH))
    events = ma.fields.List(EVENT_TYPE, required=True, validate=Length(min=1, max=MAX_EVENTS_PER_ENDPOINT))
    description = ma.fields.String(load_default=None, allow_none=True, validate=Length(max=DESCRIPTION_MAX))


class EndpointUpdateSchema(ma.Schema):
    url = ma.fields.String(validate=Length(min=1, max=URL_MAX_LENGTH))
    events = ma.fields.List(EVENT_TYPE, validate=Length(min=1, max=MAX_EVENTS_PER_ENDPOINT))
    description = ma.fields.String(allow_none=True, validate=Length(max=DESCRIPTION_MAX))
    status = ma.fields.String(validate=OneOf(["enabled", "disabled"]))


class EndpointSchema(ma.Schema):
    id = ma.fields.String(required=True)
    url = ma.fields.String(required=True)
    events = ma.fields.List(ma.fields.String(), required=True)
    description = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["enabled", "disabled"]})
    disabled_reason = ma.fields.String(allow_none=True, metadata={"description": "gone (410), failing, by_user"})
    created_at = UtcDateTime(required=True)


class EndpointWithSecretSchema(EndpointSchema):
    secret = ma.fields.String(required=True, metadata={"description": "whsec_ + base64; shown only here"})


class RotatedSecretSchema(ma.Schema):
    secret = ma.fields.String(required=True)
    previous_valid_until = UtcDateTime(required=True)


class ReplaySchema(ma.Schema):
    since = ma.fields.AwareDateTime(required=True, default_timezone=None)


class AcceptedSchema(ma.Schema):
    queued = ma.fields.Integer(required=True)
    event_id = ma.fields.String(allow_none=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.String(required=True)
    event_id = ma.fields.String(required=True)
    event_type = ma.fields.String(required=True)
    attempt = ma.fields.Integer(required=True)
    status_code = ma.fields.Integer(allow_none=True)
    duration_ms = ma.fields.Integer(required=True)
    error = ma.fields.String(allow_none=True)
    response = ma.fields.String(allow_none=True, metadata={"description": "The start of the response body"})
    created_at = UtcDateTime(required=True)


EndpointPageSchema = page_schema(EndpointSchema, "WebhookEndpointPage")
DeliveryPageSchema = page_schema(DeliverySchema, "WebhookDeliveryPage")
