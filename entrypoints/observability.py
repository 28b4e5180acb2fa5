"""Metrics and the rate limiter as the entrypoints see them: small ports, a no-op default, and the wiring that counts
ledger calls and database errors from the outside (the domain never knows it is measured)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from domain.ledger.services import Ledger
from domain.ledger.services.queries import LedgerQueries
from domain.shared.errors import DomainError

if TYPE_CHECKING:
    from limits import RateLimitItem

    from adapters.ratelimit.limits_limiter import Decision

L = TypeVar("L", bound=Ledger)


class Metrics(Protocol):
    content_type: str

    def request(self, method: str, route: str, status: int, seconds: float) -> None: ...
    def ledger_operation(self, operation: str, outcome: str) -> None: ...
    def job(self, name: str, outcome: str) -> None: ...
    def rate_limited(self, scope: str) -> None: ...
    def rate_limit_fail_open(self) -> None: ...
    def dependency_error(self, dependency: str) -> None: ...
    def render(self) -> bytes: ...


class RateLimiter(Protocol):
    """What the HTTP hook asks of the rate limiter (adapters/ratelimit/limits_limiter.py)."""

    def check(self, limits: Sequence[RateLimitItem], *identifiers: str) -> Decision | None: ...


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


# Reads the ledger class defines itself (the others are LedgerQueries'). Forgetting one here only
# counts a read; forgetting a verb cannot happen any more.
READS_ON_THE_LEDGER = frozenset({"pending_grants"})


def ledger_verbs(ledger_type: type[Ledger]) -> tuple[str, ...]:
    """Every public method of `ledger_type` but the reads (`LedgerQueries`, READS_ON_THE_LEDGER): the verbs
    that move credits or open accounts. Found by introspection, so a new verb is counted without
    anyone listing it."""
    queries = set(vars(LedgerQueries)) | READS_ON_THE_LEDGER
    return tuple(
        sorted(
            name
            for name in dir(ledger_type)
            if not name.startswith("_")
            and name not in queries
            and inspect.isfunction(inspect.getattr_static(ledger_type, name))
        )
    )


def counted_ledger(ledger_type: type[L], metrics: Metrics) -> type[L]:
    """A subclass of `ledger_type` whose every verb (`ledger_verbs`) reports its outcome to
    `metrics`, whoever calls it: bootstrap() builds the ledger from it when metrics are on. Wrapping
    in a subclass, not patching an instance: the ledger object is what its type says it is."""
    wrapped = {name: _counted(getattr(ledger_type, name), name, metrics) for name in ledger_verbs(ledger_type)}
    return type(f"Counted{ledger_type.__name__}", (ledger_type,), wrapped)


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
