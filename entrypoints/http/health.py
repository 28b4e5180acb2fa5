"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from entrypoints.http.api import Blueprint
from entrypoints.http.context import container
from entrypoints.http.errors import error_response
from entrypoints.http.schemas import StatusSchema

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, StatusSchema)
    def get(self) -> dict[str, Any]:
        """Answers as long as the process serves requests; touches no dependency."""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, StatusSchema)
    @blp.errors(503, say={503: "A dependency did not answer (not_ready); details name each check and its state"})
    def get(self) -> Any:
        """Checks the database, and Redis where it is configured."""
        results = container().check_readiness()
        if all(state == "ok" for state in results.values()):
            return {"status": "ok", "checks": results}
        failed = ", ".join(name for name, state in results.items() if state != "ok")
        response: Response = error_response(503, "not_ready", f"Not ready: {failed}.", results)
        response.headers["Retry-After"] = "5"  # API.md: every 503 says when to come back
        return response
