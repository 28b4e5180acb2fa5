"""Outgoing webhook endpoints (issue 22): register, change, rotate, test, replay, and the delivery log."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.platform.webhooks import Webhooks
from domain.platform.webhooks_model import Endpoint, EndpointStatus
from domain.shared.events import EVENT_TYPES
from entrypoints.http.api import BAD_PAGE, USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal
from entrypoints.http.context import container
from entrypoints.http.schemas import PageArgsSchema, page_body
from entrypoints.http.webhooks_schemas import (
    AcceptedSchema,
    DeliveryPageSchema,
    EndpointCreateSchema,
    EndpointPageSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    EndpointWithSecretSchema,
    ReplaySchema,
    RotatedSecretSchema,
)

_CATALOGUE = "\n".join(f"- `{name}`: {what}" for name, what in EVENT_TYPES.items())
blp = Blueprint(
    "webhook_endpoints",
    __name__,
    description=(
        "Outgoing webhooks, signed per the Standard Webhooks specification (headers `webhook-id`, "
        "`webhook-timestamp`, `webhook-signature`; body `{type, id, created_at, data: {object, version}}`; "
        "`webhook.test` for test sends). Retries: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (with jitter); "
        "410 disables the endpoint; so do 5 days of failures.\n\nEvent types:\n" + _CATALOGUE
    ),
    errors={
        404: "No such endpoint of the caller (not_found)",
        422: "Bad URL (not public, not https in production), unknown event type (validation_error)",
    },
)


def _webhooks() -> Webhooks:
    platform = container().platform_events
    assert platform is not None
    return platform.webhooks


def _view(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "status": endpoint.status.value,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
    }


@blp.route("/v1/webhook-endpoints")
class Endpoints(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, EndpointPageSchema)
    @blp.errors(401, 422, say={422: BAD_PAGE})
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's webhook endpoints, newest first (no secrets)"""
        page = _webhooks().list(current_principal().user_id, **args)
        return page_body(page, _view)

    @blp.doc(security=USER_AUTH)
    @blp.arguments(EndpointCreateSchema)
    @blp.response(201, EndpointWithSecretSchema)
    @blp.errors(401, 409, 422, say={409: "Too many endpoints (conflict)"})
    def post(self, body: dict[str, Any]) -> Any:
        """Register an endpoint; its signing secret is in this answer only"""
        endpoint = _webhooks().create(current_principal().user_id, body["url"], body["events"], body.get("description"))
        return {**_view(endpoint), "secret": endpoint.secret}


@blp.route("/v1/webhook-endpoints/<string:endpoint_id>")
class OneEndpoint(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, EndpointSchema)
    @blp.errors(401, 404)
    def get(self, endpoint_id: str) -> Any:
        """One endpoint (no secret)"""
        return _view(_webhooks().get(current_principal().user_id, endpoint_id))

    @blp.doc(security=USER_AUTH)
    @blp.arguments(EndpointUpdateSchema)
    @blp.response(200, EndpointSchema)
    @blp.errors(401, 404, 422)
    def patch(self, body: dict[str, Any], endpoint_id: str) -> Any:
        """Change an endpoint; `status: enabled` sends the backlog kept while it was disabled"""
        status = EndpointStatus(body["status"]) if "status" in body else None
        endpoint = _webhooks().update(
            current_principal().user_id,
            endpoint_id,
            url=body.get("url"),
            events=body.get("events"),
            description=body.get("description"),
            status=status,
        )
        return _view(endpoint)

    @blp.doc(security=USER_AUTH)
    @blp.response(204)
    @blp.errors(401, 404)
    def delete(self, endpoint_id: str) -> None:
        """Delete an endpoint, its pending messages and its delivery log"""
        _webhooks().delete(current_principal().user_id, endpoint_id)


@blp.route("/v1/webhook-endpoints/<string:endpoint_id>/rotate-secret")
class RotateSecret(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(201, RotatedSecretSchema)
    @blp.errors(401, 404)
    def post(self, endpoint_id: str) -> Any:
        """A new secret; the previous one keeps signing beside it until `previous_valid_until`"""
        secret, until = _webhooks().rotate_secret(current_principal().user_id, endpoint_id)
        return {"secret": secret, "previous_valid_until": until}


@blp.route("/v1/webhook-endpoints/<string:endpoint_id>/test")
class TestSend(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(202, AcceptedSchema)
    @blp.errors(401, 404)
    def post(self, endpoint_id: str) -> Any:
        """Send a `webhook.test` event to this endpoint"""
        event_id = _webhooks().send_test(current_principal().user_id, endpoint_id)
        return {"queued": 1, "event_id": event_id}


@blp.route("/v1/webhook-endpoints/<string:endpoint_id>/replay")
class Replay(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(ReplaySchema)
    @blp.response(202, AcceptedSchema)
    @blp.errors(401, 404, 422, say={422: "`since` is not an ISO 8601 time with its offset (validation_error)"})
    def post(self, body: dict[str, Any], endpoint_id: str) -> Any:
        """Send again every event of the endpoint's types since `since` (same event ids; at most 1000)"""
        queued = _webhooks().replay(current_principal().user_id, endpoint_id, body["since"])
        return {"queued": queued, "event_id": None}


@blp.route("/v1/webhook-endpoints/<string:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    @blp.errors(401, 404, 422, say={422: BAD_PAGE})
    def get(self, args: dict[str, Any], endpoint_id: str) -> Any:
        """The endpoint's delivery attempts, newest first"""
        return _webhooks().deliveries(current_principal().user_id, endpoint_id, **args)
