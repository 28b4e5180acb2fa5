"""The caller's own account under the GDPR (issue 24): export (Article 20) and erasure (Article 17)."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from flask.views import MethodView

from entrypoints.http.api import USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal
from entrypoints.http.context import container
from entrypoints.http.platform24_schemas import EraseAccountSchema, ExportSchema

blp = Blueprint(
    "account",
    __name__,
    description="GDPR: export and erasure of the caller's data",
    errors={
        503: "Storage or the payment provider did not answer; nothing was erased "
        "(service_unavailable, payment_provider_unavailable)"
    },
)


@blp.route("/v1/account/export")
class Export(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, ExportSchema)
    @blp.errors(401, 503)
    def get(self) -> Any:
        """All of the caller's data as one JSON document (a download): profile, logins, API keys (no secrets),
        ledger, payments, subscription, workspaces with goals, todos and chats, tasks, referrals, audit"""
        document = container().platform24.gdpr.export(current_principal().user_id)
        body = json.dumps(document, ensure_ascii=False, sort_keys=False)
        return Response(
            body,
            status=200,
            mimetype="application/json",
            headers={"Content-Disposition": 'attachment; filename="houston-export.json"', "Cache-Control": "no-store"},
        )


@blp.route("/v1/account")
class Account(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(EraseAccountSchema)
    @blp.response(204)
    @blp.errors(
        401,
        422,
        503,
        say={
            401: "Not signed in, or the password is wrong (unauthenticated, invalid_credentials)",
            422: "No password, or one too long (validation_error)",
        },
    )
    def delete(self, body: dict[str, Any]) -> Any:
        """Erase the caller's account: personal data removed, financial records kept under an id that
        leads to no one, the subscription cancelled and the payment provider's customer deleted"""
        container().platform24.gdpr.erase(current_principal().user_id, body["password"])
        return None
