"""What the chat use cases return: an exchange (both messages, the charge, the balance), a session
with a page of its messages, and the events of a streamed answer."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from domain.coaching.model import ChatSession, Message
from domain.ledger.results import BalanceSnapshot
from domain.shared.pagination import Page


@dataclass(frozen=True, slots=True)
class Exchange:
    user_message: Message
    assistant_message: Message
    credits_charged: int
    balance: BalanceSnapshot
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class SessionView:
    session: ChatSession
    messages: Page[Message]


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    exchange: Exchange


@dataclass(frozen=True, slots=True)
class Failed:
    code: str
    message: str


StreamEvent = Delta | Done | Failed


class ChatStream(Iterator[StreamEvent]):
    """The events of one streamed message. Closing it settles the hold, even when it was never
    iterated (a generator closed before its first `next` would skip its `finally`)."""

    def __init__(self, events: Generator[StreamEvent, None, None], on_close_unstarted: Callable[[], None]) -> None:
        self._events = events
        self._on_close_unstarted: Callable[[], None] | None = on_close_unstarted

    def __next__(self) -> StreamEvent:
        self._on_close_unstarted = None
        return next(self._events)

    def close(self) -> None:
        settle, self._on_close_unstarted = self._on_close_unstarted, None
        self._events.close()
        if settle is not None:
            settle()
