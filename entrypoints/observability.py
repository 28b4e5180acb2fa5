"""Metrics as the entrypoints see them: a small port, a no-op default, and the wiring that counts
ledger calls and database errors from the outside (the domain never knows it is measured)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from domain.shared.errors import DomainError

# The ledger's mutating verbs, counted by outcome: "ok", or the error's stable code
# (insufficient_credits, idempotency_conflict, ...), or "error" for anything else.
LEDGER_OPERATIONS = (
    "grant", "grant_monthly_allowance", "charge", "adjust", "reverse_grant", "hold", "capture", "void",
)  # fmt: skip


class Metrics(Protocol):
    content_type: str

    def request(self, method: str, route: str, status: int, seconds: float) -> None: ...
    def ledger_operation(self, operation: str, outcome: str) -> None: ...
    def job(self, name: str, outcome: str) -> None: ...
    def rate_limited(self, scope: str) -> None: ...
    def rate_limit_fail_open(self) -> None: ...
    def dependency_error(self, dependency: str) -> None: ...
    def render(self) -> bytes: ...


class NullMetrics:
    """Metrics off (METRICS_ENABLED=false): every call does nothing."""

    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        pass

    def ledger_operation(self, operation: str, outcome: str) -> None:
        pass

    def job(self, name: str, outcome: str) -> None:
        pass

    def rate_limited(self, scope: str) -> None:
        pass

    def rate_limit_fail_open(self) -> None:
        pass

    def dependency_error(self, dependency: str) -> None:
        pass

    def render(self) -> bytes:
        return b""


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    return error.code if isinstance(error, DomainError) else "error"


def instrument_ledger(ledger: Any, metrics: Metrics) -> None:
    """Count every call of the ledger's mutating verbs on this instance, whoever calls them."""
    for name in LEDGER_OPERATIONS:
        verb = getattr(ledger, name, None)
        if verb is not None:
            setattr(ledger, name, _counted(verb, name, metrics))


def _counted(verb: Callable[..., Any], name: str, metrics: Metrics) -> Callable[..., Any]:
    @functools.wraps(verb)
    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            result = verb(*args, **kwargs)
        except Exception as error:
            metrics.ledger_operation(name, outcome_of(error))
            raise
        metrics.ledger_operation(name, "ok")
        return result

    return counted


def watch_engine(engine: Any, metrics: Metrics) -> None:
    """Count every error the database driver raises (SQLAlchemy's handle_error event)."""
    from sqlalchemy import event

    event.listen(engine, "handle_error", lambda context: metrics.dependency_error("database"))
