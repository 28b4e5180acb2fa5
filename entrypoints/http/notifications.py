"""Notifications (issue 22): the in-app inbox, preferences per type and channel, one-click unsubscribe."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView

from domain.platform.notifications import Notifications
from domain.platform.notifications_model import Notification
from entrypoints.http.api import USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal
from entrypoints.http.context import container
from entrypoints.http.notifications_schemas import (
    InboxArgsSchema,
    InboxSchema,
    NotificationSchema,
    PreferencesPatchSchema,
    PreferencesSchema,
    UnsubscribeArgsSchema,
    UpdatedSchema,
)
from entrypoints.http.schemas import page_body

blp = Blueprint(
    "notifications",
    __name__,
    description="The in-app inbox and email notifications; payment and security notifications cannot be turned off.",
)


def _notifications() -> Notifications:
    platform = container().platform_events
    assert platform is not None
    return platform.notifications


def _view(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "type": n.type,
        "title": n.title,
        "body": n.body,
        "data": n.data,
        "created_at": n.created_at,
        "read_at": n.read_at,
    }


@blp.route("/v1/notifications")
class Inbox(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(InboxArgsSchema, location="query")
    @blp.response(200, InboxSchema)
    @blp.errors(401, 422, say={422: "A bad limit, cursor or unread flag (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's notifications, newest first (`unread=true`: unread only), with the unread count"""
        page, unread = _notifications().inbox(
            current_principal().user_id, unread_only=args["unread"], limit=args["limit"], cursor=args["cursor"]
        )
        return page_body(page, _view, unread_count=unread)


@blp.route("/v1/notifications/<string:notification_id>/read")
class ReadOne(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, NotificationSchema)
    @blp.errors(401, 404, what="notification of the caller")
    def post(self, notification_id: str) -> Any:
        """Mark one notification read"""
        return _view(_notifications().read(current_principal().user_id, notification_id))


@blp.route("/v1/notifications/read-all")
class ReadAll(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, UpdatedSchema)
    @blp.errors(401)
    def post(self) -> Any:
        """Mark every notification read"""
        return {"updated": _notifications().read_all(current_principal().user_id)}


@blp.route("/v1/notifications/unsubscribe")
class Unsubscribe(MethodView):
    @blp.arguments(UnsubscribeArgsSchema, location="query")
    @blp.response(200, UpdatedSchema)
    @blp.errors(422, say={422: "The link is not valid (validation_error)"})
    def post(self, args: dict[str, Any]) -> Any:
        """Turn off the emails of one type, from the signed link in an email (public; RFC 8058 one-click)"""
        _notifications().unsubscribe(args["token"])
        return {"updated": 1}

    @blp.arguments(UnsubscribeArgsSchema, location="query")
    @blp.response(200, UpdatedSchema)
    @blp.errors(422, say={422: "The link is not valid (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """The same, for a click on the link in the email"""
        _notifications().unsubscribe(args["token"])
        return {"updated": 1}


@blp.route("/v1/me/notification-preferences")
class Preferences(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, PreferencesSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """Every notification type with its channels"""
        return {t: asdict(p) for t, p in _notifications().preferences(current_principal().user_id).items()}

    @blp.doc(security=USER_AUTH)
    @blp.arguments(PreferencesPatchSchema, required=False)  # no body: nothing changes
    @blp.response(200, PreferencesSchema)
    @blp.errors(401, 422, say={422: "An unknown type, or a payment or security type turned off (validation_error)"})
    def patch(self, body: dict[str, Any]) -> Any:
        """Turn channels of some types on or off"""
        prefs = _notifications().set_preferences(current_principal().user_id, body)
        return {t: asdict(p) for t, p in prefs.items()}
