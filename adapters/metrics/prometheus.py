"""Metrics through prometheus_client, correct under several gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (by `houston serve`), prometheus_client keeps every value in
memory-mapped files under that directory, one set per process, and a scrape adds up the files of
every worker (`MultiProcessCollector`), so the answer does not depend on which worker serves it.
Without it, values live in this process and a scrape shows this process only. prometheus_client
chooses between the two when it is first imported, from the environment variable itself.

Only counters and histograms are used: they add up across processes without a choice of mode.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

# Seconds: from a cached read to a slow charge under lock contention.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self._dir = multiprocess_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "houston_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "houston_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._ledger = Counter(
            "houston_ledger_operations",
            "Ledger calls by operation and outcome (ok or the error code)",
            ["operation", "outcome"],
            registry=r,
        )
        self._jobs = Counter("houston_jobs", "Jobs run by name and outcome", ["job", "outcome"], registry=r)
        self._rate_limited = Counter(
            "houston_rate_limited", "Requests refused with 429, by limit scope", ["scope"], registry=r
        )
        self._fail_open = Counter(
            "houston_rate_limit_fail_open",
            "Rate-limit checks skipped because the limiter storage failed",
            registry=r,
        )
        self._dependency_errors = Counter(
            "houston_dependency_errors", "Errors from the database and Redis", ["dependency"], registry=r
        )

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        code = str(status)
        self._requests.labels(method, route, code).inc()
        self._latency.labels(method, route, code).observe(seconds)

    def ledger_operation(self, operation: str, outcome: str) -> None:
        self._ledger.labels(operation, outcome).inc()

    def job(self, name: str, outcome: str) -> None:
        self._jobs.labels(name, outcome).inc()

    def rate_limited(self, scope: str) -> None:
        self._rate_limited.labels(scope).inc()

    def rate_limit_fail_open(self) -> None:
        self._fail_open.inc()

    def dependency_error(self, dependency: str) -> None:
        self._dependency_errors.labels(dependency).inc()

    def render(self) -> bytes:
        """The text exposition of every process (multiprocess mode) or of this one."""
        if self._dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
