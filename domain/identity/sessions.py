"""Sign-in and tokens: login, refresh with rotation and reuse detection, logout, access tokens."""
from __future__ import annotations

import secrets

from domain.identity.core import AuthResult, IdentityCore
from domain.identity.errors import InvalidCredentials, InvalidToken, TokenExpired, TokenRevoked
from domain.identity.model import Principal, User, hash_secret, normalize_email
from domain.shared.errors import InvalidInput
from domain.shared.uow import retrying


class SessionUseCases(IdentityCore):
    _dummy_hash: str | None = None

    def login(self, email: str, password: str) -> AuthResult:
        """One answer, InvalidCredentials, for an unknown email and for a wrong password."""
        user = self._find_by_email(email)
        if user is None:
            self._hasher.verify(password, self._fixed_hash())  # the same work as for a real account
            raise InvalidCredentials()
        if not self._hasher.verify(password, user.password_hash):
            raise InvalidCredentials()
        return retrying(lambda: self._sign_in(user.id))

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

    def _sign_in(self, user_id: str) -> AuthResult:
        now = self._clock.now()
        with self._uow() as uow:
            user = uow.users.get(user_id)
            if user is None:  # deleted between the password check and now
                raise InvalidCredentials()
            result = self._issue(uow, user, now, family_id=None)
            uow.commit()
        return result

    def refresh(self, refresh_token: str) -> AuthResult:
        """Rotate: the presented token is spent and a new one joins its family.

        A spent (used or revoked) token presented again means it leaked: the whole family is
        revoked, so even the newest token of that family stops working.
        """
        return retrying(lambda: self._refresh(refresh_token))

    def _refresh(self, refresh_token: str) -> AuthResult:
        now = self._clock.now()
        with self._uow() as uow:
            token = uow.refresh_tokens.get_by_hash_for_update(hash_secret(refresh_token))
            if token is None:
                raise InvalidToken()
            if token.spent:
                uow.refresh_tokens.revoke_family(token.family_id, now)
                uow.commit()  # the revocation stands although the call fails
                raise TokenRevoked()
            if now >= token.expires_at:
                raise TokenExpired()
            user = uow.users.get(token.user_id)
            if user is None:
                raise InvalidToken()
            uow.refresh_tokens.mark_used(token.id, now)
            result = self._issue(uow, user, now, family_id=token.family_id)
            uow.commit()
        return result

    def logout(self, refresh_token: str) -> None:
        """Revoke the token's family. An unknown token is a no-op: idempotent, and it reveals nothing."""
        retrying(lambda: self._logout(refresh_token))

    def _logout(self, refresh_token: str) -> None:
        with self._uow() as uow:
            token = uow.refresh_tokens.get_by_hash_for_update(hash_secret(refresh_token))
            if token is not None:
                uow.refresh_tokens.revoke_family(token.family_id, self._clock.now())
            uow.commit()

    def authenticate_access_token(self, token: str) -> Principal:
        """Signature, algorithm, issuer and audience by the codec; expiry against our Clock (the one
        that issued it); the user must still exist; and the refresh family the token was issued with
        must not be revoked (logout, or a reused refresh token, ends its access tokens at once)."""
        claims = self._tokens.decode(token)
        if self._clock.now() >= claims.expires_at:
            raise TokenExpired()
        with self._uow() as uow:
            user = uow.users.get(claims.user_id)
            if claims.family_id is not None and uow.refresh_tokens.family_revoked(claims.family_id):
                raise TokenRevoked()
        if user is None:
            raise InvalidToken("The account no longer exists.")
        return Principal(user_id=user.id, role=user.role)  # the stored role: a demotion applies at once
