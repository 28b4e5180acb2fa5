"""A caller's Idempotency-Key as stored, and the fingerprint of the request it came with: one
module for every area (issue 26 §4), so that a key is checked, scoped and compared one way.

API.md: a request that moves credits or money takes an `Idempotency-Key` of 1-255 printable
ASCII characters; the same key with the same body returns the first answer and changes nothing,
the same key with another body is `409 idempotency_conflict`. A use case keeps the key in one of
two forms, chosen by where it is stored:

| form | when | stored as | used by |
| --- | --- | --- | --- |
| `scoped_key(scope, key)` | the table's key space is already the caller's own (unique per ledger account, per user's payments) | `scope:key`; `scope:#sha256(key)` when that would not fit 255 | ledger HTTP charges (`http`), admin adjustments (`admin`), billing checkout (`checkout`) |
| `request_key(owner, scope, key)` | one key space shared by every caller | sha256 hex of owner, scope and key (64 characters) | coaching chat (`chat`) and tasks (`task`) |

The scope keeps one route's keys apart from another's in the same space (an admin's "abc" must
not replay the user's own "abc"). `fingerprint` is what a request was; a replay whose fingerprint
differs is the conflict. Both forms and the fingerprint are stored: changing how they are built
turns a retry that spans the deploy into a new request (or a conflict), so they stay as they are.
Keys a use case derives for its own later steps (`checkout:<payment>`, `referral:<id>`,
`coach:hold:<attempt>`) are not callers' keys and are written where the saga is documented.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from domain.shared.errors import InvalidInput

MAX_KEY_LENGTH = 255
KEY_PATTERN = rf"^[\x21-\x7e][\x20-\x7e]{{0,{MAX_KEY_LENGTH - 1}}}$"  # printable ASCII, not starting with a space
STORED_REQUEST_KEY_LENGTH = 64  # sha256 hex: what `request_key` and `fingerprint` store


def check_key(key: str) -> None:
    """A caller's key is 1-255 printable ASCII characters (the HTTP schema says the same first)."""
    if not (1 <= len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            details={"Idempotency-Key": "1-255 printable ASCII characters."},
        )


def scoped_key(scope: str, key: str) -> str:
    """A caller's key inside a key space that is already the caller's own, apart from the keys of
    other routes in that space. Long keys are hashed to fit."""
    scoped = f"{scope}:{key}"
    if len(scoped) <= MAX_KEY_LENGTH:
        return scoped
    return f"{scope}:#{hashlib.sha256(key.encode()).hexdigest()}"


def request_key(owner: str, scope: str, key: str) -> str:
    """A caller's key in a key space every caller shares: hashed with the caller and the route, so
    two users' keys never meet and any key fits the column (64 hex characters)."""
    return hashlib.sha256(f"{owner}\x00{scope}\x00{key}".encode()).hexdigest()


def fingerprint(request: Mapping[str, Any]) -> str:
    """What a request was (its canonical JSON, hashed), so that a replayed key can tell the same
    request from another one. Values that are not JSON are compared by their `str`."""
    canonical = json.dumps(dict(request), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
