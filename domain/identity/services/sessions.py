"""Sign-in and tokens: login, refresh with rotation and reuse detection, logout, access tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from domain.identity.core import AuthResult, TokenIssuer
from domain.identity.errors import (
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
)
from domain.identity.logins import (
    EMAIL_MAX_LENGTH,
    ClientInfo,
    LoginAttempt,
    LoginEvent,
    LoginFailure,
)
from domain.identity.model import Principal, User, hash_secret, normalize_email
from domain.identity.ports import IdentityUnitOfWork, PasswordHasher, TokenCodec
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.events import signed_in
from domain.shared.ids import IdGenerator
from domain.shared.uow import transaction


class SessionUseCases:
    """Login, refresh with rotation and reuse detection, logout, access tokens."""

    def __init__(
        self,
        *,
        uow: Callable[[], IdentityUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        issuer: TokenIssuer,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._hasher = hasher
        self._tokens = tokens
        self._issuer = issuer
        self._dummy_hash: str | None = None  # made on first use: an unknown email costs one hash

    def login(self, email: str, password: str, *, client: ClientInfo | None = None) -> AuthResult:
        """One answer, InvalidCredentials, for an unknown email and for a wrong password. Every
        attempt goes to the login history (with `client`), a success in its sign-in transaction."""
        client = (client or ClientInfo()).clean()
        user = self._find_by_email(email)
        if user is None:
            self._hasher.verify(password, self._fixed_hash())  # the same work as for a real account
            self._record_failure(None, _email_tried(email), LoginFailure.UNKNOWN_EMAIL, client)
            raise InvalidCredentials()
        if not self._hasher.verify(password, user.password_hash):
            self._record_failure(user.id, user.email, LoginFailure.WRONG_PASSWORD, client)
            raise InvalidCredentials()
        return transaction(self._uow, lambda uow: self._sign_in(uow, user.id, client))

    def _attempt(
        self, event: LoginEvent, user_id: str | None, email: str | None, client: ClientInfo, reason: str | None = None
    ) -> LoginAttempt:
        return LoginAttempt(
            id=self._ids.new_id("lgn"),
            at=self._clock.now(),
            event=event,
            success=reason is None,
            user_id=user_id,
            email=email,
            ip=client.ip,
            user_agent=client.user_agent,
            reason=reason,
        )

    def _record_failure(self, user_id: str | None, email: str | None, reason: LoginFailure, client: ClientInfo) -> None:
        transaction(
            self._uow, lambda uow: uow.logins.add(self._attempt(LoginEvent.LOGIN, user_id, email, client, reason))
        )

    def _find_by_email(self, email: str) -> User | None:
        try:
            normalized = normalize_email(email)
        except InvalidInput:
            return None
        with self._uow() as uow:
            return uow.users.get_by_email(normalized)

    def _fixed_hash(self) -> str:
        """A hash no password matches, made by the real hasher so that verifying it costs the same."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    def _sign_in(self, uow: IdentityUnitOfWork, user_id: str, client: ClientInfo) -> AuthResult:
        now = self._clock.now()
        user = uow.users.get(user_id)
        if user is None:  # deleted between the password check and now
            raise InvalidCredentials()
        result = self._issuer.issue(uow, user, now, family_id=None)
        attempt = self._attempt(LoginEvent.LOGIN, user.id, user.email, client)
        uow.logins.add(attempt)
        signed_in(uow, user.id, attempt.id, attempt.ip, attempt.user_agent)  # issue 22: new-address check
        return result

    def refresh(self, refresh_token: str, *, client: ClientInfo | None = None) -> AuthResult:
        """Rotate: the presented token is spent and a new one joins its family.

        A spent (used or revoked) token presented again means it leaked: the whole family is
        revoked, so even the newest token of that family stops working.
        """
        cleaned = (client or ClientInfo()).clean()
        return transaction(self._uow, lambda uow: self._refresh(uow, refresh_token, cleaned))

    def _refresh(self, uow: IdentityUnitOfWork, refresh_token: str, client: ClientInfo) -> AuthResult:
        now = self._clock.now()
        token = uow.refresh_tokens.get_by_hash_for_update(hash_secret(refresh_token))
        if token is None:
            raise InvalidToken()
        if token.spent:
            uow.refresh_tokens.revoke_family(token.family_id, now)
            reused = LoginFailure.REFRESH_TOKEN_REUSED
            uow.logins.add(self._attempt(LoginEvent.REFRESH_REUSE, token.user_id, None, client, reused))
            uow.commit()  # the revocation stands although the call fails
            raise TokenRevoked()
        if now >= token.expires_at:
            raise TokenExpired()
        user = uow.users.get(token.user_id)
        if user is None:
            raise InvalidToken()
        uow.refresh_tokens.mark_used(token.id, now)
        return self._issuer.issue(uow, user, now, family_id=token.family_id)

    def logout(self, refresh_token: str, *, client: ClientInfo | None = None) -> None:
        """Revoke the token's family. An unknown token is a no-op: idempotent, and it reveals nothing."""
        cleaned = (client or ClientInfo()).clean()
        transaction(self._uow, lambda uow: self._logout(uow, refresh_token, cleaned))

    def _logout(self, uow: IdentityUnitOfWork, refresh_token: str, client: ClientInfo) -> None:
        token = uow.refresh_tokens.get_by_hash_for_update(hash_secret(refresh_token))
        if token is not None and uow.refresh_tokens.revoke_family(token.family_id, self._clock.now()):
            uow.logins.add(self._attempt(LoginEvent.LOGOUT, token.user_id, None, client))

    def authenticate_access_token(self, token: str) -> Principal:
        """Signature, algorithm, issuer and audience by the codec; expiry against our Clock (the one
        that issued it); the user must still exist; and the refresh family the token was issued with
        must not be revoked (logout, or a reused refresh token, ends its access tokens at once)."""
        claims = self._tokens.decode(token)
        if self._clock.now() >= claims.expires_at:
            raise TokenExpired()
        with self._uow() as uow:
            if claims.family_id is None:
                user = uow.users.get(claims.user_id)
                caller = None if user is None else Principal(user_id=user.id, role=user.role, plan=user.plan)
                revoked = False
            else:
                caller, revoked = uow.users.get_for_access(claims.user_id, claims.family_id)
        if revoked:
            raise TokenRevoked()
        if caller is None:
            raise InvalidToken("The account no longer exists.")
        # the stored role (a demotion applies at once) and plan (per-plan rate limits)
        return caller


def _email_tried(email: str) -> str | None:
    """The email of a failed attempt as stored: normalised when it is one, else cut to the column."""
    try:
        return normalize_email(email)
    except InvalidInput:
        return email.strip().lower()[:EMAIL_MAX_LENGTH] or None
