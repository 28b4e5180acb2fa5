"""Request metrics: count and latency by route template (`/v1/goals/<string:goal_id>`, never the
raw path, so ids do not make new series) and status."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Flask, Response, g, request

if TYPE_CHECKING:
    from entrypoints.container import Container

UNMATCHED = "<unmatched>"  # 404s for unknown paths share one series


def register_request_metrics(app: Flask, container: Container) -> None:
    if not container.settings.metrics_enabled:
        return
    metrics = container.metrics

    @app.after_request
    def _measure(response: Response) -> Response:
        rule = request.url_rule
        started = g.get("started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        metrics.request(request.method, rule.rule if rule is not None else UNMATCHED, response.status_code, seconds)
        return response
