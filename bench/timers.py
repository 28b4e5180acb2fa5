"""Phase timers for the coaching bench: wall and CPU time per phase, exclusive of nested phases.

`timed(phase, function)` wraps a function (or a generator function: the time inside each `next`)
so that, while a request is being recorded, its time is added to `phase` minus the time spent in
other timed calls nested inside it. `Recorder` is the WSGI middleware that starts and ends the
recording of one request and writes one JSON line per request (see bench/coaching_probe.py).
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import event

PHASES = ("auth", "balance", "ledger", "context", "storage", "model", "http")


class Probe(threading.local):
    def __init__(self) -> None:
        self.active = False
        self.stack: list[tuple[float, float]] = []  # (wall, cpu) spent in nested phases
        self.phases: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.queries = 0
        self.commits = 0
        self.rollbacks = 0
        self.checkouts = 0  # connections taken from the pool: one per unit of work
        self.names: list[str] = []  # the phases entered, innermost last
        self.trips: dict[str, int] = defaultdict(int)  # statements, commits, rollbacks, checkouts per phase
        self.db = 0.0
        self.query_started = 0.0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


PROBE = Probe()
INSTRUMENTED: list[str] = []


def _enter(phase: str) -> tuple[float, float]:
    PROBE.stack.append((0.0, 0.0))
    PROBE.names.append(phase)
    return time.perf_counter(), time.thread_time()


def _leave(phase: str, started: tuple[float, float]) -> None:
    wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
    PROBE.names.pop()
    nested_wall, nested_cpu = PROBE.stack.pop()
    PROBE.phases[phase] += wall - nested_wall
    PROBE.cpu[phase] += cpu - nested_cpu
    if PROBE.stack:
        outer_wall, outer_cpu = PROBE.stack[-1]
        PROBE.stack[-1] = (outer_wall + wall, outer_cpu + cpu)


def timed(phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            inner = function(*args, **kwargs)
            try:
                while True:
                    started = _enter(phase) if PROBE.active else None
                    try:
                        item = next(inner)
                    except StopIteration:
                        return
                    finally:
                        if started is not None:
                            _leave(phase, started)
                    yield item
            finally:
                inner.close()

        return generator

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not PROBE.active:
            return function(*args, **kwargs)
        started = _enter(phase)
        try:
            return function(*args, **kwargs)
        finally:
            _leave(phase, started)

    return wrapper


def instrument(owner: Any, name: str, phase: str) -> None:
    function = getattr(owner, name, None)
    if function is None:
        return
    setattr(owner, name, timed(phase, function))
    INSTRUMENTED.append(f"{getattr(owner, '__name__', owner)}.{name} -> {phase}")


def listen_sql(engine: Any) -> None:
    """Count statements, their round-trip time, commits, rollbacks and pool checkouts (one per unit
    of work, each a pre-ping round trip when the pool pings) on `engine` while a request is recorded."""
    event.listen(engine, "before_cursor_execute", _query_started)
    event.listen(engine, "after_cursor_execute", _query_finished)
    event.listen(engine, "commit", _committed)
    event.listen(engine, "rollback", _rolled_back)
    event.listen(engine, "checkout", _checked_out)


def _trip() -> None:
    PROBE.trips[PROBE.names[-1] if PROBE.names else "http"] += 1


def _committed(*_: Any) -> None:
    if PROBE.active:
        PROBE.commits += 1
        _trip()


def _rolled_back(*_: Any) -> None:
    if PROBE.active:
        PROBE.rollbacks += 1
        _trip()


def _checked_out(*_: Any) -> None:
    if PROBE.active:
        PROBE.checkouts += 1
        _trip()  # the pool's pre-ping, when it pings


def _query_started(*_: Any) -> None:
    PROBE.query_started = time.perf_counter()


def _query_finished(*_: Any) -> None:
    if PROBE.active:
        PROBE.queries += 1
        PROBE.db += time.perf_counter() - PROBE.query_started
        _trip()


class Recorder:
    """WSGI middleware: times each request from the app call to the close of its body."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: str) -> None:
        self._app = app
        self._out = open(path, "a", buffering=1)  # noqa: SIM115 - one line per request, for the process's life

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scenario = environ.get("HTTP_X_BENCH_SCENARIO")
        if scenario is None:
            return self._app(environ, start_response)
        PROBE.reset()
        PROBE.active = True
        status: list[str] = []

        def start(line: str, headers: Any, *rest: Any) -> Any:
            status.append(line)
            return start_response(line, headers, *rest)

        started = time.perf_counter(), time.thread_time()
        body = self._app(environ, start)
        return self._body(body, scenario, started, status)

    def _body(
        self, body: Iterable[bytes], scenario: str, started: tuple[float, float], status: list[str]
    ) -> Iterator[bytes]:
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
            PROBE.active = False
            self._write(scenario, status, wall, cpu)

    def _write(self, scenario: str, status: list[str], wall: float, cpu: float) -> None:
        phases = {name: PROBE.phases.get(name, 0.0) * 1000 for name in PHASES if name != "http"}
        phases["http"] = wall * 1000 - sum(phases.values())
        cpu_phases = {name: PROBE.cpu.get(name, 0.0) * 1000 for name in PHASES if name != "http"}
        cpu_phases["http"] = cpu * 1000 - sum(cpu_phases.values())
        record = {
            "scenario": scenario,
            "status": int(status[0].split()[0]) if status else 0,
            "total_ms": wall * 1000,
            "cpu_ms": cpu * 1000,
            "phases_ms": phases,
            "cpu_phases_ms": cpu_phases,
            "queries": PROBE.queries,
            "commits": PROBE.commits,
            "rollbacks": PROBE.rollbacks,
            "checkouts": PROBE.checkouts,
            "trips": dict(PROBE.trips),
            "db_ms": PROBE.db * 1000,
        }
        self._out.write(json.dumps(record) + "\n")
