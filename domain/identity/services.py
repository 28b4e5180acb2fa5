"""The identity use cases as one service: accounts, sign-in and tokens, API keys.

Each use case opens one unit of work from the factory and commits once. Slow work (bcrypt) runs
before the unit of work opens, so no database lock is held while hashing. The use cases live in
one module per group; this module puts them together under the name the composition root uses.
"""
from __future__ import annotations

from domain.identity.accounts import UNSET, AccountUseCases, Unset
from domain.identity.api_keys import ApiKeyUseCases
from domain.identity.core import AuthResult, TokenPolicy, UserCreatedHook
from domain.identity.sessions import SessionUseCases


class IdentityService(AccountUseCases, SessionUseCases, ApiKeyUseCases):
    """IdentityService(*, uow, clock, ids, hasher, tokens, policy, on_user_created=())."""


__all__ = ["UNSET", "AuthResult", "IdentityService", "TokenPolicy", "Unset", "UserCreatedHook"]
