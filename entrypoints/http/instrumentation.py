"""Request metrics: count and latency by method, route template (`/v1/goals/<string:goal_id>`,
never the raw path, so ids do not make new series) and status.

Every label is bounded by the service, never by the client (issue 21): a method outside
KNOWN_METHODS counts as `other` (40 invented methods once made 40 series), and a request that
matched no route (404, and 405 where Werkzeug does not say which rule) counts as `<unmatched>`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Flask, Response, g, request

if TYPE_CHECKING:
    from entrypoints.container import Container

UNMATCHED = "<unmatched>"  # 404s for unknown paths share one series
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def register_request_metrics(app: Flask, container: Container) -> None:
    if not container.settings.metrics_enabled:
        return
    metrics = container.metrics

    @app.after_request
    def _measure(response: Response) -> Response:
        rule = request.url_rule
        started = g.get("started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        route = rule.rule if rule is not None else UNMATCHED
        metrics.request(method_label(request.method), route, response.status_code, seconds)
        return response
