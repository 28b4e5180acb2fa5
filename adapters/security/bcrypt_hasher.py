"""Password hashing with bcrypt, for passwords of any length the API accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

# bcrypt reads at most 72 bytes, and bcrypt 5 raises ValueError beyond that. API.md accepts up to
# 128 characters (up to 512 bytes of UTF-8), which must never be cut silently. So bcrypt is given
# base64(HMAC-SHA256(password)): always 44 ASCII bytes, no NUL byte (bcrypt stops at NUL), and the
# whole password counts. The fixed HMAC key only separates this use from a bare SHA-256, so hashes
# from other systems' leaked SHA-256 tables cannot be replayed against ours ("hash shucking").
_PREHASH_KEY = b"houston.password.v1"


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


class BcryptPasswordHasher:
    def __init__(self, rounds: int = 12) -> None:
        if not 4 <= rounds <= 31:
            raise ValueError("bcrypt rounds must be between 4 and 31")
        self._rounds = rounds

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self._rounds)).decode("ascii")

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
        except ValueError:  # a malformed or foreign hash: no password matches it
            return False
