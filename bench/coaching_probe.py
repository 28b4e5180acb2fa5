"""The WSGI app the coaching bench serves (`gunicorn bench.coaching_probe:app`): wsgi.app with timers.

Timers wrap the use case's phases in the server process and record, for each chat-message request,
the time spent in each phase, exclusive of the phases nested inside it:
- auth:     resolving the caller (access token or API key);
- balance:  the ledger's balance read (what the user can afford, before the hold);
- ledger:   the ledger's hold and capture (and void, on failure), run inside the chat's own
            transactions (`hold_within`, `capture_within`);
- context:  transaction 1 (the key's claim, the session, workspace, goals, todos and history reads,
            pricing, the cap, its COMMIT) and building the prompt (system prompt, messages, tokens);
- storage:  transaction 3 (the session's lock, both messages, its COMMIT), the idempotency replay read;
- model:    the coach model (the scripted coach: the model's own time, excluded from the target);
- http:     everything else inside the app: Flask, routing, schemas, JSON, error handling.
Each phase gets its wall time and the worker thread's CPU time (`time.thread_time`): on a shared
machine the wall time includes waiting for a core, the CPU time does not. It also counts SQL
statements, their round-trip time, and commits (all phases). One JSON line per request goes to
BENCH_TIMINGS_PATH, written after the request is finished (outside the timed region).
Only requests carrying an `X-Bench-Scenario` header are recorded.
"""

from __future__ import annotations

import os
from typing import Any

import wsgi
from bench.timers import Recorder, instrument, listen_sql
from domain.coaching import prompts
from domain.coaching.services import chat, settlement
from domain.identity.services import IdentityService
from domain.ledger.services import Ledger


def instrument_all(container: Any) -> None:
    for name in ("authenticate_access_token", "authenticate_api_key"):
        instrument(IdentityService, name, "auth")
    instrument(Ledger, "balance", "balance")
    for name in ("hold", "capture", "void", "hold_within", "capture_within"):
        instrument(Ledger, name, "ledger")
    uses = chat.ChatUseCases
    instrument(uses, "_prepare", "context")
    for name in ("system_prompt", "chat_messages", "prompt_tokens"):
        if getattr(chat, name, None) is getattr(prompts, name, object()):
            instrument(chat, name, "context")
    instrument(uses, "_store", "storage")
    for name in ("replay", "capture"):
        instrument(settlement.AnswerSettlement, name, "storage")
    model = type(container.coach_model)
    for name in ("reply", "stream"):
        instrument(model, name, "model")
    engine = container.resources.engine
    if engine is not None:
        listen_sql(engine)
        if os.environ.get("BENCH_NO_PRE_PING"):  # a what-if: the pool's ping before every unit of work
            engine.pool._pre_ping = False


container = wsgi.app.extensions["houston"]
instrument_all(container)
app = Recorder(wsgi.app, os.environ.get("BENCH_TIMINGS_PATH", "bench/results/coaching-timings.jsonl"))
