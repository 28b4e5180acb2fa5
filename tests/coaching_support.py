"""Test helpers for coaching: a controllable coach model, and a ledger whose capture can crash once."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.coaching.errors import CoachUnavailable
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.prompts import prompt_tokens
from domain.coaching.tokens import estimate_tokens
from domain.ledger.services import Ledger


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
    """A Ledger whose next `capture` raises, as a process that dies between storing and capturing."""

    crash_next_capture = False

    def capture(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_next_capture:
            self.crash_next_capture = False
            raise RuntimeError("crash between storing the messages and capturing the hold")
        return super().capture(*args, **kwargs)
