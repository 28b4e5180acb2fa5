"""Opaque string ids. New ids are time-ordered (a millisecond prefix) so they sort by creation."""

from __future__ import annotations

import secrets
import threading
import time
from typing import NewType, Protocol

UserId = NewType("UserId", str)
AccountId = NewType("AccountId", str)

ID_MAX_LENGTH = 40
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str: ...


class RandomIds:
    """`<prefix>_<10 chars of milliseconds><16 random chars>`: unique, sortable by time.

    Monotonic within a process (as ULID's monotonic mode): an id made in the same millisecond as
    the previous one (or while the clock steps back) adds one to the previous random part instead
    of drawing a new one, so ids made one after another sort in the order they were made and
    "newest first" keyset pages are exact. Across processes, order is to the millisecond."""

    _RANDOM_BITS = 80

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (0, 0)

    def new_id(self, prefix: str) -> str:
        with self._lock:
            millis = time.time_ns() // 1_000_000
            last_millis, last_random = self._last
            if millis > last_millis:
                random = secrets.randbits(self._RANDOM_BITS - 1)  # headroom to count up within the ms
            elif last_random + 1 < 1 << self._RANDOM_BITS:
                millis, random = last_millis, last_random + 1
            else:  # the millisecond's ids are used up: borrow the next one
                millis, random = last_millis + 1, secrets.randbits(self._RANDOM_BITS - 1)
            self._last = (millis, random)
        return f"{prefix}_{_b32(millis, 10)}{_b32(random, 16)}"


class SequentialIds:
    """Deterministic ids for tests: `<prefix>_000001`, `<prefix>_000002`, ..."""

    def __init__(self) -> None:
        self._counter = 0

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:06d}"
