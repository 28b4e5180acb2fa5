"""Identity use cases on memory adapters, wired by bootstrap() with a ManualClock; one behaviour per test."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from adapters.memory.identity import InMemoryUserRepository
from adapters.memory.store import MemoryStore
from adapters.memory.uow import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from adapters.queue.recording import RecordingJobQueue
from adapters.security.bcrypt_hasher import BcryptPasswordHasher
from adapters.security.jwt_codec import JwtTokenCodec
from domain.identity.errors import (
    ApiKeyNotFound,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
)
from domain.identity.model import AccessClaims, Role, User
from domain.identity.services import UNSET, IdentityService, TokenPolicy
from domain.shared.clock import ManualClock
from domain.shared.errors import InvalidInput
from domain.shared.ids import SequentialIds
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.settings import T0, make_settings

PASSWORD = "correct horse battery staple"
ACCESS_TTL = 15 * 60
REFRESH_TTL = 30 * 24 * 3600


class CountingHasher:
    """The real bcrypt hasher, counting its calls (a fake that records, not a mock)."""

    def __init__(self) -> None:
        self._inner = BcryptPasswordHasher(rounds=4)
        self.verifications = 0

    def hash(self, password: str) -> str:
        return self._inner.hash(password)

    def verify(self, password: str, hashed: str) -> bool:
        self.verifications += 1
        return self._inner.verify(password, hashed)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def container(clock: ManualClock, store: MemoryStore, hasher: CountingHasher) -> Container:
    queue = RecordingJobQueue()
    uow = MemoryUnitOfWorkFactory(store, queue=queue)
    return bootstrap(make_settings(), clock=clock, ids=SequentialIds(), uow=uow, queue=queue, hasher=hasher)


@pytest.fixture
def identity(container: Container) -> IdentityService:
    return container.identity


def family_of(container: Container, refresh_token: str) -> list[Any]:
    with container.uow() as uow:
        token = uow.refresh_tokens.get_by_hash_for_update(hashlib.sha256(refresh_token.encode()).hexdigest())
        return list(uow.refresh_tokens.family(token.family_id))


def codec() -> JwtTokenCodec:
    settings = make_settings()
    return JwtTokenCodec(settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience)


# --- registration -------------------------------------------------------------------------------
def test_register_stores_the_email_stripped_and_lower_cased(identity: IdentityService) -> None:
    result = identity.register("  Ada.Lovelace@Example.COM ", PASSWORD, name=" Ada ")
    stored = identity.get_user(result.user.id)
    assert (stored.email, stored.name) == ("ada.lovelace@example.com", "Ada")
    assert (stored.role, stored.plan) == (Role.USER, "free")


def test_register_refuses_an_email_already_taken_in_another_case(identity: IdentityService) -> None:
    identity.register("ada@example.com", PASSWORD)
    with pytest.raises(EmailTaken) as caught:
        identity.register("ADA@example.com", PASSWORD)
    assert caught.value.code == "email_taken"


def test_a_race_on_the_unique_email_is_reported_as_email_taken(
    container: Container, store: MemoryStore, clock: ManualClock
) -> None:
    container.identity.register("ada@example.com", PASSWORD)

    class BlindUsers(InMemoryUserRepository):  # the check-before-insert misses the other request's row
        def get_by_email(self, email: str) -> User | None:
            return None

    def racing_uow() -> MemoryUnitOfWork:
        uow = MemoryUnitOfWork(store)
        uow.users = BlindUsers(store)
        return uow

    racing = bootstrap(make_settings(), clock=clock, uow=racing_uow, queue=RecordingJobQueue())
    with pytest.raises(EmailTaken):
        racing.identity.register("ada@example.com", PASSWORD)


@pytest.mark.parametrize("password", ["x" * 7, "x" * 129, "é" * 129])
def test_register_refuses_passwords_outside_8_to_128_characters(identity: IdentityService, password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        identity.register("ada@example.com", password)
    assert "password" in caught.value.details
    with pytest.raises(InvalidCredentials):  # and nothing was stored
        identity.login("ada@example.com", "x" * 8)


def test_a_128_character_multibyte_password_is_kept_whole_and_logs_in(identity: IdentityService) -> None:
    password = "é" * 128  # 256 bytes of UTF-8, far over bcrypt's 72
    user = identity.register("ada@example.com", password).user
    assert identity.login("ada@example.com", password).user.id == user.id


def test_a_password_differing_only_after_72_bytes_does_not_log_in(identity: IdentityService) -> None:
    identity.register("ada@example.com", "a" * 100)
    with pytest.raises(InvalidCredentials):
        identity.login("ada@example.com", "a" * 99 + "b")


def test_register_refuses_a_malformed_email(identity: IdentityService) -> None:
    with pytest.raises(InvalidInput) as caught:
        identity.register("not-an-email", PASSWORD)
    assert caught.value.details == {"email": "Not a valid email address."}


def test_register_opens_the_credit_account_in_the_same_unit_of_work(container: Container) -> None:
    user = container.identity.register("ada@example.com", PASSWORD).user
    assert container.ledger.balance(user.id).balance == make_settings().free_plan_monthly_credits


def test_a_failing_user_created_hook_leaves_no_user_behind(container: Container, clock: ManualClock) -> None:
    def failing_hook(uow: Any, user: User) -> None:
        raise RuntimeError("the ledger is down")

    identity = IdentityService(
        uow=container.uow,
        clock=clock,
        ids=SequentialIds(),
        hasher=BcryptPasswordHasher(4),
        tokens=codec(),
        policy=TokenPolicy(ACCESS_TTL, REFRESH_TTL),
        on_user_created=(failing_hook,),
    )
    with pytest.raises(RuntimeError):
        identity.register("ada@example.com", PASSWORD)
    with container.uow() as uow:
        assert uow.users.get_by_email("ada@example.com") is None


# --- login --------------------------------------------------------------------------------------
def test_login_accepts_the_email_in_any_case(identity: IdentityService) -> None:
    user = identity.register("ada@example.com", PASSWORD).user
    assert identity.login(" ADA@Example.com", PASSWORD).user.id == user.id


def test_wrong_password_and_unknown_email_fail_the_same_way(identity: IdentityService) -> None:
    identity.register("ada@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong:
        identity.login("ada@example.com", "not the password")
    with pytest.raises(InvalidCredentials) as unknown:
        identity.login("nobody@example.com", PASSWORD)
    assert (wrong.value.code, wrong.value.message) == (unknown.value.code, unknown.value.message)


def test_login_with_an_unknown_email_still_verifies_a_password(
    identity: IdentityService, hasher: CountingHasher
) -> None:
    with pytest.raises(InvalidCredentials):
        identity.login("nobody@example.com", PASSWORD)
    assert hasher.verifications == 1  # the same bcrypt work as for a real account


# --- access tokens ------------------------------------------------------------------------------
def test_access_token_times_come_from_the_injected_clock(identity: IdentityService) -> None:
    result = identity.register("ada@example.com", PASSWORD)
    claims = codec().decode(result.access_token)
    assert (claims.user_id, claims.role, claims.issued_at) == (result.user.id, Role.USER, T0)
    assert claims.expires_at == T0 + timedelta(seconds=ACCESS_TTL)
    assert result.expires_in == ACCESS_TTL


def test_access_token_expires_after_the_access_ttl(identity: IdentityService, clock: ManualClock) -> None:
    token = identity.register("ada@example.com", PASSWORD).access_token
    clock.advance(seconds=ACCESS_TTL - 1)
    assert identity.authenticate_access_token(token).role is Role.USER
    clock.advance(seconds=1)
    with pytest.raises(TokenExpired):
        identity.authenticate_access_token(token)


def test_access_token_of_a_user_who_does_not_exist_is_refused(identity: IdentityService) -> None:
    token = codec().encode(AccessClaims("usr_ghost", Role.ADMIN, T0, T0 + timedelta(minutes=5), "jti"))
    with pytest.raises(InvalidToken):
        identity.authenticate_access_token(token)


def test_the_principal_carries_the_stored_role_not_the_one_in_the_token(identity: IdentityService) -> None:
    token = identity.register("ada@example.com", PASSWORD).access_token
    identity.create_admin("ada@example.com", "ignored")
    assert identity.authenticate_access_token(token).is_admin


# --- refresh tokens -----------------------------------------------------------------------------
def test_refresh_rotates_the_token_within_its_family(identity: IdentityService, container: Container) -> None:
    first = identity.register("ada@example.com", PASSWORD)
    second = identity.refresh(first.refresh_token)
    family = family_of(container, second.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert [(t.used_at, t.revoked_at) for t in family] == [(T0, None), (None, None)]


def test_refresh_tokens_are_stored_only_as_sha256_hashes(identity: IdentityService, container: Container) -> None:
    token = identity.register("ada@example.com", PASSWORD).refresh_token
    stored = json.dumps([repr(t) for t in family_of(container, token)])
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


def test_refresh_token_reuse_revokes_the_whole_family(identity: IdentityService, container: Container) -> None:
    first = identity.register("ada@example.com", PASSWORD)
    newest = identity.refresh(first.refresh_token)
    with pytest.raises(TokenRevoked):
        identity.refresh(first.refresh_token)  # replayed: it leaked
    with pytest.raises(TokenRevoked):
        identity.refresh(newest.refresh_token)  # even the newest one is dead now
    assert all(t.revoked_at == T0 for t in family_of(container, newest.refresh_token))


def test_reuse_in_one_family_leaves_other_sessions_working(identity: IdentityService) -> None:
    phone = identity.register("ada@example.com", PASSWORD)
    laptop = identity.login("ada@example.com", PASSWORD)
    identity.refresh(phone.refresh_token)
    with pytest.raises(TokenRevoked):
        identity.refresh(phone.refresh_token)
    assert identity.refresh(laptop.refresh_token).user.id == laptop.user.id


def test_refresh_token_expires_after_the_refresh_ttl(identity: IdentityService, clock: ManualClock) -> None:
    token = identity.register("ada@example.com", PASSWORD).refresh_token
    clock.advance(seconds=REFRESH_TTL)
    with pytest.raises(TokenExpired):
        identity.refresh(token)


def test_an_unknown_refresh_token_is_unauthenticated(identity: IdentityService) -> None:
    with pytest.raises(InvalidToken) as caught:
        identity.refresh("never-issued")
    assert caught.value.code == "unauthenticated"


def test_logout_revokes_the_family(identity: IdentityService) -> None:
    first = identity.register("ada@example.com", PASSWORD)
    newest = identity.refresh(first.refresh_token)
    identity.logout(newest.refresh_token)
    with pytest.raises(TokenRevoked):
        identity.refresh(newest.refresh_token)


def test_logout_with_an_unknown_token_changes_nothing(identity: IdentityService) -> None:
    session = identity.register("ada@example.com", PASSWORD)
    identity.logout("never-issued")
    assert identity.refresh(session.refresh_token).user.id == session.user.id


# --- profile and admins -------------------------------------------------------------------------
def test_update_me_sets_clears_or_keeps_the_name(identity: IdentityService, clock: ManualClock) -> None:
    user_id = identity.register("ada@example.com", PASSWORD).user.id
    clock.advance(seconds=5)
    assert identity.update_me(user_id, name="  Ada  ").name == "Ada"
    assert identity.update_me(user_id, name=UNSET).name == "Ada"
    assert identity.update_me(user_id, name=None).name is None
    assert identity.get_user(user_id).updated_at == T0 + timedelta(seconds=5)


def test_update_me_refuses_a_name_over_200_characters(identity: IdentityService) -> None:
    user_id = identity.register("ada@example.com", PASSWORD).user.id
    with pytest.raises(InvalidInput):
        identity.update_me(user_id, name="x" * 201)
    assert identity.get_user(user_id).name is None


def test_create_admin_creates_an_admin_with_a_credit_account(container: Container) -> None:
    admin = container.identity.create_admin(" Root@Example.com", PASSWORD)
    assert (admin.email, admin.role) == ("root@example.com", Role.ADMIN)
    assert container.identity.login("root@example.com", PASSWORD).user.role is Role.ADMIN
    assert container.ledger.balance(admin.id).balance == make_settings().free_plan_monthly_credits


def test_create_admin_promotes_an_existing_user_and_keeps_the_password(identity: IdentityService) -> None:
    user = identity.register("ada@example.com", PASSWORD).user
    promoted = identity.create_admin("ADA@example.com", "some other password")
    assert (promoted.id, promoted.role) == (user.id, Role.ADMIN)
    assert identity.login("ada@example.com", PASSWORD).user.role is Role.ADMIN


def test_user_ids_on_plan_walk_the_plan_in_keyset_pages(identity: IdentityService, container: Container) -> None:
    ids = [identity.register(f"u{n}@example.com", PASSWORD).user.id for n in range(3)]
    with container.uow() as uow:  # one user moves to another plan
        moved = uow.users.get(ids[1])
        uow.users.update(replace(moved, plan="pro"))
        uow.commit()
    first = identity.user_ids_on_plan("free", after=None, limit=1)
    rest = identity.user_ids_on_plan("free", after=first[-1], limit=10)
    assert first + rest == [ids[0], ids[2]]
    assert identity.user_ids_on_plan("pro", after=None, limit=10) == [ids[1]]


def test_list_users_pages_follow_the_cursor(identity: IdentityService) -> None:
    ids = [identity.register(f"u{n}@example.com", PASSWORD).user.id for n in range(3)]
    first = identity.list_users(limit=2)
    second = identity.list_users(limit=2, cursor=first.next_cursor)
    assert [u.id for u in first.items + second.items] == ids
    assert second.next_cursor is None


# --- API keys -----------------------------------------------------------------------------------
@pytest.fixture
def user_id(identity: IdentityService) -> str:
    return identity.register("ada@example.com", PASSWORD).user.id


def test_api_key_authenticates_its_owner_and_names_the_key(identity: IdentityService, user_id: str) -> None:
    key, plaintext = identity.create_api_key(user_id, "ci")
    principal = identity.authenticate_api_key(plaintext)
    assert (principal.user_id, principal.api_key_id) == (user_id, key.id)
    assert plaintext.startswith(key.prefix + "_") and key.prefix.startswith("hk_") and len(key.prefix) == 11


def test_api_keys_are_stored_only_as_sha256_hashes(identity: IdentityService, user_id: str) -> None:
    key, plaintext = identity.create_api_key(user_id, "ci")
    stored = identity.list_api_keys(user_id)[0]
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in repr(stored)


def test_revoked_api_key_stops_working_at_once(identity: IdentityService, user_id: str) -> None:
    key, plaintext = identity.create_api_key(user_id, "ci")
    identity.revoke_api_key(user_id, key.id)
    with pytest.raises(InvalidToken):
        identity.authenticate_api_key(plaintext)
    assert identity.list_api_keys(user_id) == []


def test_revoking_another_users_key_is_not_found_and_leaves_it_working(identity: IdentityService, user_id: str) -> None:
    key, plaintext = identity.create_api_key(user_id, "ci")
    intruder = identity.register("eve@example.com", PASSWORD).user.id
    with pytest.raises(ApiKeyNotFound):
        identity.revoke_api_key(intruder, key.id)
    assert identity.authenticate_api_key(plaintext).user_id == user_id


def test_a_made_up_api_key_is_refused(identity: IdentityService, user_id: str) -> None:
    _, plaintext = identity.create_api_key(user_id, "ci")
    for guess in (plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), "nope", "hk_" + "x" * 300):
        with pytest.raises(InvalidToken):
            identity.authenticate_api_key(guess)


def test_last_used_at_is_written_at_most_once_a_minute(
    identity: IdentityService, user_id: str, clock: ManualClock
) -> None:
    _, plaintext = identity.create_api_key(user_id, "ci")

    def last_used_after(seconds: int) -> Any:
        clock.advance(seconds=seconds)
        identity.authenticate_api_key(plaintext)
        return identity.list_api_keys(user_id)[0].last_used_at

    assert last_used_after(0) == T0
    assert last_used_after(30) == T0
    assert last_used_after(30) == T0 + timedelta(seconds=60)


def test_api_key_pages_are_oldest_first_and_follow_the_cursor(
    identity: IdentityService, user_id: str, clock: ManualClock
) -> None:
    ids = []
    for n in range(3):
        ids.append(identity.create_api_key(user_id, f"k{n}")[0].id)
        clock.advance(seconds=1)
    first = identity.api_keys_page(user_id, limit=2)
    second = identity.api_keys_page(user_id, limit=2, cursor=first.next_cursor)
    assert [k.id for k in first.items + second.items] == ids
    assert second.next_cursor is None


def test_a_forged_cursor_is_a_validation_error(identity: IdentityService, user_id: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        identity.api_keys_page(user_id, cursor="bm90LWpzb24")
    assert "cursor" in caught.value.details


def test_create_api_key_needs_a_name(identity: IdentityService, user_id: str) -> None:
    with pytest.raises(InvalidInput):
        identity.create_api_key(user_id, "   ")


# --- security adapters --------------------------------------------------------------------------
def test_bcrypt_hasher_never_matches_a_malformed_hash() -> None:
    assert BcryptPasswordHasher(4).verify(PASSWORD, "not-a-bcrypt-hash") is False


def test_jwt_codec_refuses_another_audience_issuer_or_secret() -> None:
    claims = AccessClaims("usr_1", Role.USER, T0, T0 + timedelta(minutes=5), "jti")
    secret = make_settings().jwt_secret
    for other in (
        JwtTokenCodec(secret, "houston", "someone-else"),
        JwtTokenCodec(secret, "not-houston", "houston-api"),
        JwtTokenCodec("another-secret-" + "y" * 40, "houston", "houston-api"),
    ):
        with pytest.raises(InvalidToken):
            codec().decode(other.encode(claims))
    assert codec().decode(codec().encode(claims)) == claims
