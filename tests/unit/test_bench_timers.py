"""The coaching bench's phase timers: exclusive times, generators, and the WSGI recorder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.timers import PROBE, Recorder, timed

PAUSE = 0.02
SLACK = 0.005  # the timers' own bookkeeping, generously


def inner() -> str:
    time.sleep(PAUSE)
    return "inner"


def outer(call: Any) -> str:
    time.sleep(PAUSE)
    return str(call())


def recording() -> None:
    PROBE.reset()
    PROBE.active = True


def test_a_phase_gets_its_own_time_without_the_phases_nested_in_it() -> None:
    timed_inner = timed("ledger", inner)
    timed_outer = timed("context", outer)
    recording()
    started = time.perf_counter()

    assert timed_outer(timed_inner) == "inner"

    elapsed = time.perf_counter() - started
    PROBE.active = False
    assert PROBE.phases["ledger"] >= PAUSE and PROBE.phases["context"] >= PAUSE
    # each moment is counted once: the nested ledger time is not also the context's
    assert abs(PROBE.phases["ledger"] + PROBE.phases["context"] - elapsed) < SLACK


def test_nothing_is_recorded_outside_a_request() -> None:
    PROBE.reset()

    timed("ledger", inner)()

    assert dict(PROBE.phases) == {}


def test_a_generator_is_timed_only_inside_its_steps() -> None:
    def words() -> Iterator[str]:
        for word in ("a", "b"):
            time.sleep(PAUSE / 2)
            yield word

    recording()
    seen, callers = [], 0.0
    started = time.perf_counter()
    for word in timed("model", words)():
        paused = time.perf_counter()
        time.sleep(PAUSE)  # the caller's time between steps is not the model's
        callers += time.perf_counter() - paused
        seen.append(word)

    elapsed = time.perf_counter() - started
    PROBE.active = False
    assert seen == ["a", "b"]
    assert PROBE.phases["model"] >= PAUSE
    assert abs(PROBE.phases["model"] - (elapsed - callers)) < SLACK


def test_the_recorder_writes_one_line_per_marked_request_with_the_rest_as_http(tmp_path: Path) -> None:
    slow_ledger = timed("ledger", inner)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        slow_ledger()
        start_response("201 CREATED", [])
        return [b"{}"]

    path = tmp_path / "timings.jsonl"
    recorder = Recorder(app, str(path))
    statuses: list[str] = []

    for headers in ({"HTTP_X_BENCH_SCENARIO": "short"}, {}):
        body = recorder(headers, lambda status, _headers, *_: statuses.append(status))
        assert b"".join(body) == b"{}"
        getattr(body, "close", lambda: None)()

    lines = path.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert (record["scenario"], record["status"]) == ("short", 201)
    assert record["phases_ms"]["ledger"] >= PAUSE * 1000
    assert abs(sum(record["phases_ms"].values()) - record["total_ms"]) < 1e-6
    assert statuses == ["201 CREATED", "201 CREATED"]
