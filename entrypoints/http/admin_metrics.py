"""The owner's sales figures (issue 24): GET /v1/admin/metrics (see domain/platform/sales.py)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from entrypoints.http.api import USER_AUTH, Blueprint
from entrypoints.http.auth import require_admin
from entrypoints.http.context import container
from entrypoints.http.platform24_schemas import MetricsArgsSchema, MetricsSchema

blp = Blueprint("admin_metrics", __name__, description="Sales figures for the owner")


@blp.route("/v1/admin/metrics")
class SalesMetrics(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(MetricsArgsSchema, location="query")
    @blp.response(200, MetricsSchema)
    @blp.errors(401, 403, 422, say={422: "A bad range or interval (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """Cash in, MRR, subscriptions, credits sold/free/consumed/expired, paid-credit liability, users: per UTC
        day, week or month in [from, to) (default: the last 30 days), with totals"""
        require_admin()
        report = container().platform24.sales.report(args["from_"], args["to"], args["interval"])
        series = [{"start": p.start, **p.figures} for p in report.series]
        return {
            "from_": report.start,
            "to": report.end,
            "interval": report.interval,
            "totals": report.totals,
            "series": series,
        }
