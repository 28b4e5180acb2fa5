"""Test helpers for coaching: a controllable coach model, a ledger whose capture (or void) can crash
once, and the state a crash between storing and capturing left before the two were one transaction."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.coaching.errors import CoachUnavailable
from domain.coaching.model import Message
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import prompt_tokens
from domain.coaching.tokens import estimate_tokens
from domain.ledger.ports import CreditHolds
from domain.ledger.services import Ledger
from domain.shared.errors import TransientError, Unavailable


@dataclass
class FakeCoach:
    """A CoachModel test double: answers `text` (or exactly `tokens_out` tokens, capped at
    max_tokens), fails when told to, and records every call."""

    text: str = "Write the docs first, then ship."
    fail: bool = False
    tokens_out: int | None = None  # None: estimate_tokens(text)
    fail_after_chunks: int | None = None  # stream: raise CoachUnavailable after this many chunks
    calls: list[tuple[list[ChatMessage], ModelSettings]] = field(default_factory=list)
    closed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _usage(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply:
        out = estimate_tokens(self.text) if self.tokens_out is None else self.tokens_out
        return Reply(self.text, prompt_tokens(messages), min(out, settings.max_tokens), "fake-model")

    def reply(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply:
        with self.lock:
            self.calls.append((list(messages), settings))
        if self.fail:
            raise CoachUnavailable("The coach model did not answer.")
        return self._usage(messages, settings)

    def stream(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Iterator[str | Reply]:
        with self.lock:
            self.calls.append((list(messages), settings))
        try:
            if self.fail:
                raise CoachUnavailable("The coach model did not answer.")
            words = self.text.split(" ")
            for index, word in enumerate(words):
                if self.fail_after_chunks is not None and index == self.fail_after_chunks:
                    raise CoachUnavailable("The stream broke.")
                yield word + (" " if index < len(words) - 1 else "")
            yield self._usage(messages, settings)
        finally:
            self.closed += 1


class CrashingCaptureLedger(Ledger):
    """A Ledger whose next capture raises, as a process that dies while capturing: a task's own
    `capture` (between storing its result and charging it), or a chat answer's `capture_within`
    (inside the transaction that stores the answer: both roll back). `crash_next_void`: the dying
    process does not void the hold either."""

    crash_next_capture = False
    crash_next_void = False
    balance_unavailable = 0  # the next reads of a balance find the database gone
    contended_holds = 0  # the next holds inside a caller's transaction meet a deadlock

    def hold_within(self, *args: Any, **kwargs: Any) -> Any:
        if self.contended_holds:
            self.contended_holds -= 1
            raise TransientError("The database is busy; try again.")
        return super().hold_within(*args, **kwargs)

    def balance(self, *args: Any, **kwargs: Any) -> Any:
        if self.balance_unavailable:
            self.balance_unavailable -= 1
            raise Unavailable("The database is unreachable.")
        return super().balance(*args, **kwargs)

    def capture(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_next_capture:
            self.crash_next_capture = False
            raise RuntimeError("crash between storing the result and capturing the hold")
        return super().capture(*args, **kwargs)

    def capture_within(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_next_capture:
            self.crash_next_capture = False
            raise RuntimeError("crash while storing the answer and capturing its hold")
        return super().capture_within(*args, **kwargs)

    def void(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_next_void:
            self.crash_next_void = False
            raise RuntimeError("crash before voiding the hold")
        return super().void(*args, **kwargs)


def store_uncaptured(uow: Callable[[], Any], holds: CreditHolds, payer: str, session_id: str, *, price: int,
                     at: datetime, hold: int | None = None) -> Message:  # fmt: skip
    """What a crash between storing an exchange and capturing its hold left before the two were one
    transaction (and what a database restored from then may hold): a hold of `hold` credits
    (default `price`), the two messages stored, the answer priced at `price` and not settled. The
    sweep and the deletions must still charge it."""
    movement = holds.hold(payer, amount=hold or price, idempotency_key=f"coach:hold:att_{uuid.uuid4().hex[:12]}",
                          ttl_seconds=900, feature_key="coach.message", reference=f"chat:{session_id}")  # fmt: skip
    assert movement.hold is not None
    with uow() as unit:
        session = unit.coaching.get_session_for_update(session_id)
        seq = session.message_count
        unit.coaching.add_message(Message(
            id=f"msg_{uuid.uuid4().hex[:12]}", session_id=session_id, seq=seq + 1, role="user",
            content="Plan my week", created_at=at, account_id=payer,
        ))  # fmt: skip
        answer = Message(
            id=f"msg_{uuid.uuid4().hex[:12]}", session_id=session_id, seq=seq + 2, role="assistant",
            content="Write the docs first, then ship.", created_at=at, tokens_in=40, tokens_out=8,
            credits_charged=price, model="fake-model", hold_id=movement.hold.id, settled=False, account_id=payer,
        )  # fmt: skip
        unit.coaching.add_message(answer)
        session.message_count += 2
        session.updated_at = at
        unit.coaching.update_session(session)
        unit.commit()
    return answer
