"""Ports of the coaching area: the coach model (an LLM or the scripted offline coach) and storage."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ModelSettings:
    model: str | None  # None: the adapter's configured default model
    temperature: float
    max_tokens: int  # always set (the affordable cap)


@dataclass(frozen=True)
class Reply:
    text: str
    tokens_in: int
    tokens_out: int
    model: str
    cut_short: bool = False  # the model stopped at max_tokens ("length") or the stream broke


class CoachModel(Protocol):
    def reply(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Reply: ...

    def stream(self, messages: Sequence[ChatMessage], settings: ModelSettings) -> Iterator[str | Reply]:
        """Yield text chunks (str), then exactly one final Reply with the usage (text = the whole text).

        When the provider sends no usage, tokens are counted with estimate_tokens.
        The generator may be closed early by the caller (GeneratorExit): clean up the HTTP stream.
        """
        ...
