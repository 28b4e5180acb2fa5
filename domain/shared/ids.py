"""Opaque string ids. New ids are time-ordered (a millisecond prefix) so they sort by creation."""
from __future__ import annotations

import secrets
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
    """`<prefix>_<10 chars of milliseconds><16 random chars>`: unique, sortable by time."""

    def new_id(self, prefix: str) -> str:
        millis = time.time_ns() // 1_000_000
        return f"{prefix}_{_b32(millis, 10)}{_b32(secrets.randbits(80), 16)}"


class SequentialIds:
    """Deterministic ids for tests: `<prefix>_000001`, `<prefix>_000002`, ..."""

    def __init__(self) -> None:
        self._counter = 0

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:06d}"
