"""Access tokens as HS256 JWTs through PyJWT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt

from domain.identity.errors import InvalidToken
from domain.identity.model import AccessClaims, Role

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
_REQUIRED = ["sub", "iat", "exp", "jti", "iss", "aud", "role"]
_ROLES = frozenset(role.value for role in Role)


class JwtTokenCodec:
    """Signs and checks access tokens: signature, algorithm (HS256 only, so never `none`), issuer,
    audience and the presence of every claim.

    Expiry: PyJWT compares `exp` with the system clock, but tokens are issued from the injected
    Clock, so the service compares `expires_at` with that same Clock (one time source; tests can
    move it). `exp` is still required and must be a number.
    """

    def __init__(self, secret: str, issuer: str, audience: str) -> None:
        if not secret:
            raise ValueError("a JWT secret is required")
        self._secret = secret
        self._key = secret.encode()  # PyJWT encodes a str key on every decode (issue 25: ~8 us of ~45)
        self._issuer = issuer
        self._audience = audience

    def encode(self, claims: AccessClaims) -> str:
        payload = {
            "sub": claims.user_id,
            "role": claims.role.value,
            "iat": int(claims.issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "jti": claims.token_id,
            "iss": self._issuer,
            "aud": self._audience,
        }
        if claims.family_id is not None:
            payload["fam"] = claims.family_id
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken()
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:  # bad signature, other algorithm, wrong iss/aud, missing claim, garbage
            raise InvalidToken() from None
        return _claims(payload)


def _claims(payload: dict[str, Any]) -> AccessClaims:
    sub, role, jti, iat, exp = (payload[name] for name in ("sub", "role", "jti", "iat", "exp"))
    family = payload.get("fam")  # absent from tokens issued before families were checked
    if not all(isinstance(v, str) for v in (sub, role, jti)) or role not in _ROLES:
        raise InvalidToken()
    if family is not None and not isinstance(family, str):
        raise InvalidToken()
    return AccessClaims(
        user_id=sub, role=Role(role), issued_at=_time(iat), expires_at=_time(exp), token_id=jti, family_id=family
    )


def _time(value: Any) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidToken()
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidToken() from None
