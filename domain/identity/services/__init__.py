"""The identity use cases: accounts, sign-in and tokens, API keys.

Each use case opens one unit of work from the factory and commits once. Slow work (bcrypt) runs
before the unit of work opens, so no database lock is held while hashing. One small class per
group, each given its collaborators (`accounts.py`, `sessions.py`, `api_keys.py`; issuing a
sign-in is `TokenIssuer` in domain/identity/core.py, shared by accounts and sessions);
`IdentityService` is the facade the composition root builds, one method per use case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.identity.core import AuthResult, TokenIssuer, TokenPolicy, UserCreatedHook
from domain.identity.logins import ClientInfo
from domain.identity.model import ApiKey, Principal, User
from domain.identity.ports import IdentityUnitOfWork, PasswordHasher, TokenCodec
from domain.identity.services.accounts import UNSET, AccountUseCases, Unset
from domain.identity.services.api_keys import ApiKeyUseCases
from domain.identity.services.sessions import SessionUseCases
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from domain.shared.pagination import Page


class IdentityService:
    def __init__(
        self,
        *,
        uow: Callable[[], IdentityUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        policy: TokenPolicy,
        on_user_created: Sequence[UserCreatedHook] = (),
        api_keys_per_user: int = 50,
    ) -> None:
        issuer = TokenIssuer(ids=ids, tokens=tokens, policy=policy)
        self.accounts = AccountUseCases(
            uow=uow, clock=clock, ids=ids, hasher=hasher, issuer=issuer, on_user_created=on_user_created
        )
        self.sessions = SessionUseCases(uow=uow, clock=clock, ids=ids, hasher=hasher, tokens=tokens, issuer=issuer)
        self.api_keys = ApiKeyUseCases(uow=uow, clock=clock, ids=ids, api_keys_per_user=api_keys_per_user)

    # --- accounts -----------------------------------------------------------------------------
    def register(self, email: str, password: str, name: str | None = None) -> AuthResult:
        return self.accounts.register(email, password, name)

    def create_admin(self, email: str, password: str) -> User:
        return self.accounts.create_admin(email, password)

    def promote_admin(self, email: str) -> User | None:
        return self.accounts.promote_admin(email)

    def get_user(self, user_id: str) -> User:
        return self.accounts.get_user(user_id)

    def update_me(self, user_id: str, *, name: str | None | Unset = UNSET) -> User:
        return self.accounts.update_me(user_id, name=name)

    def list_users(self, *, limit: int = 50, cursor: str | None = None) -> Page[User]:
        return self.accounts.list_users(limit=limit, cursor=cursor)

    def user_ids_on_plan(self, plan: str, *, after: str | None, limit: int) -> list[str]:
        return self.accounts.user_ids_on_plan(plan, after=after, limit=limit)

    # --- sign-in and tokens -------------------------------------------------------------------
    def login(self, email: str, password: str, *, client: ClientInfo | None = None) -> AuthResult:
        return self.sessions.login(email, password, client=client)

    def refresh(self, refresh_token: str, *, client: ClientInfo | None = None) -> AuthResult:
        return self.sessions.refresh(refresh_token, client=client)

    def logout(self, refresh_token: str, *, client: ClientInfo | None = None) -> None:
        self.sessions.logout(refresh_token, client=client)

    def authenticate_access_token(self, token: str) -> Principal:
        return self.sessions.authenticate_access_token(token)

    # --- API keys -----------------------------------------------------------------------------
    def create_api_key(self, user_id: str, name: str) -> tuple[ApiKey, str]:
        return self.api_keys.create_api_key(user_id, name)

    def list_api_keys(self, user_id: str) -> list[ApiKey]:
        return self.api_keys.list_api_keys(user_id)

    def api_keys_page(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[ApiKey]:
        return self.api_keys.api_keys_page(user_id, limit=limit, cursor=cursor)

    def revoke_api_key(self, user_id: str, key_id: str) -> None:
        self.api_keys.revoke_api_key(user_id, key_id)

    def authenticate_api_key(self, key: str) -> Principal:
        return self.api_keys.authenticate_api_key(key)


__all__ = ["UNSET", "AuthResult", "IdentityService", "TokenPolicy", "Unset", "UserCreatedHook"]
