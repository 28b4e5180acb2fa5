"""The identity repository contract: the same tests against memory, SQLite and MariaDB.

Storage comes from the root `make_container` fixture (parametrised over the backends; MariaDB runs
when TEST_MYSQL_URL is set). Every test makes its own rows with unique ids, emails and plans, so a
shared MariaDB database needs no cleanup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from adapters.queue.recording import RecordingJobQueue
from domain.identity.errors import TokenRevoked
from domain.identity.model import ApiKey, Principal, RefreshToken, Role, User
from domain.shared.errors import DuplicateRecord, NotFound
from entrypoints.bootstrap import bootstrap
from tests.fixtures.settings import T0, make_settings, unique

UowFactory = Callable[[], Any]
NOW = T0.replace(microsecond=123456)  # microseconds must survive the round trip
S = timedelta(seconds=1)


@pytest.fixture
def uow(make_container: Callable[..., Any]) -> UowFactory:
    return make_container(queue=RecordingJobQueue()).uow  # type: ignore[no-any-return]


def new_user(**kw: Any) -> User:
    ref = unique("usr")
    values: dict[str, Any] = dict(
        id=ref,
        email=f"{ref}@example.com",
        password_hash="$2b$04$" + "x" * 53,
        role=Role.USER,
        plan="free",
        created_at=NOW,
        updated_at=NOW,
        name="Ada",
    )
    values.update(kw)
    return User(**values)


def new_token(user_id: str, **kw: Any) -> RefreshToken:
    values: dict[str, Any] = dict(
        id=unique("rt"),
        user_id=user_id,
        family_id=unique("fam"),
        token_hash=unique("h").ljust(64, "0"),
        created_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )
    values.update(kw)
    return RefreshToken(**values)


def new_key(user_id: str, **kw: Any) -> ApiKey:
    values: dict[str, Any] = dict(
        id=unique("key"),
        user_id=user_id,
        name="ci",
        prefix="hk_ab12cd34",
        key_hash=unique("k").ljust(64, "0"),
        created_at=NOW,
    )
    values.update(kw)
    return ApiKey(**values)


def saved(uow: UowFactory, *records: Any) -> None:
    """Store users, refresh tokens and API keys in one committed unit of work."""
    with uow() as u:
        for record in records:
            repo = {User: u.users, RefreshToken: u.refresh_tokens, ApiKey: u.api_keys}[type(record)]
            repo.add(record)
        u.commit()


# --- users --------------------------------------------------------------------------------------
def test_a_user_round_trips_with_every_field(uow: UowFactory) -> None:
    user = new_user(role=Role.ADMIN, updated_at=NOW + S)
    saved(uow, user)
    with uow() as u:
        assert u.users.get(user.id) == user
        assert u.users.get_by_email(user.email) == user
        assert u.users.get(unique("usr")) is None


def test_a_user_without_a_name_round_trips(uow: UowFactory) -> None:
    user = new_user(name=None)
    saved(uow, user)
    with uow() as u:
        assert u.users.get(user.id) == user


def test_a_second_user_with_the_same_email_is_refused(uow: UowFactory) -> None:
    first = new_user()
    saved(uow, first)
    with pytest.raises(DuplicateRecord), uow() as u:
        u.users.add(new_user(email=first.email))


def test_a_second_user_with_the_same_id_is_refused(uow: UowFactory) -> None:
    first = new_user()
    saved(uow, first)
    with pytest.raises(DuplicateRecord), uow() as u:
        u.users.add(new_user(id=first.id))


def test_update_changes_the_stored_user(uow: UowFactory) -> None:
    user = new_user()
    saved(uow, user)
    changed = replace(user, name="Ada L.", role=Role.ADMIN, plan="pro", updated_at=NOW + S)
    with uow() as u:
        u.users.update(changed)
        u.commit()
    with uow() as u:
        assert u.users.get(user.id) == changed


def test_a_changed_copy_changes_nothing_until_it_is_saved(uow: UowFactory) -> None:
    user = new_user()
    saved(uow, user)
    with uow() as u:
        copy = u.users.get(user.id)
        copy.name = "Mallory"
        assert u.users.get(user.id).name == "Ada"
        u.commit()
    with uow() as u:
        assert u.users.get(user.id) == user


def test_changing_an_entity_after_saving_it_changes_nothing_stored(uow: UowFactory) -> None:
    user = new_user()
    token, key = new_token(user.id), new_key(user.id)
    saved(uow, user, token, key)
    with uow() as u:
        u.users.update(user)
        u.commit()
    user.name, token.used_at, key.revoked_at = "Mallory", NOW, NOW
    with uow() as u:
        assert u.users.get(user.id).name == "Ada"
        assert u.refresh_tokens.get_by_hash_for_update(token.token_hash).used_at is None
        assert u.api_keys.get(key.id).revoked_at is None


def test_an_uncommitted_user_is_rolled_back(uow: UowFactory) -> None:
    user = new_user()
    with uow() as u:
        u.users.add(user)
    with uow() as u:
        assert u.users.get(user.id) is None
        assert u.users.get_by_email(user.email) is None


def test_list_after_walks_users_by_id(uow: UowFactory) -> None:
    base = unique("usr")
    users = [new_user(id=f"{base}-{n}", email=f"{base}-{n}@example.com") for n in range(3)]
    saved(uow, *reversed(users))
    with uow() as u:
        assert [x.id for x in u.users.list_after(users[0].id, 2)] == [users[1].id, users[2].id]
        assert u.users.list_after(users[0].id, 1) == [users[1]]


def test_ids_on_plan_returns_only_that_plan_in_id_order(uow: UowFactory) -> None:
    plan, base = unique("plan"), unique("usr")
    users = [new_user(id=f"{base}-{n}", email=f"{base}-{n}@example.com", plan=plan) for n in range(3)]
    other = new_user(plan=unique("plan"))
    saved(uow, users[2], other, users[0], users[1])
    with uow() as u:
        assert u.users.ids_on_plan(plan, None, 10) == [x.id for x in users]
        assert u.users.ids_on_plan(plan, users[0].id, 1) == [users[1].id]


# --- refresh tokens -----------------------------------------------------------------------------
def test_a_refresh_token_round_trips_by_its_hash(uow: UowFactory) -> None:
    user = new_user()
    token = new_token(user.id, used_at=NOW + S, revoked_at=NOW + 2 * S)
    saved(uow, user, token)
    with uow() as u:
        assert u.refresh_tokens.get_by_hash_for_update(token.token_hash) == token
        assert u.refresh_tokens.get_by_hash_for_update("0" * 64) is None


def test_a_refresh_token_hash_is_unique(uow: UowFactory) -> None:
    user = new_user()
    token = new_token(user.id)
    saved(uow, user, token)
    with pytest.raises(DuplicateRecord), uow() as u:
        u.refresh_tokens.add(new_token(user.id, token_hash=token.token_hash))


def test_a_refresh_token_for_an_unknown_user_is_refused(uow: UowFactory) -> None:
    with pytest.raises(NotFound), uow() as u:  # a foreign-key failure: the user is not there (issue 19)
        u.refresh_tokens.add(new_token(unique("usr")))


def test_mark_used_sets_used_at_only(uow: UowFactory) -> None:
    user = new_user()
    token = new_token(user.id)
    saved(uow, user, token)
    with uow() as u:
        u.refresh_tokens.mark_used(token.id, NOW + S)
        u.commit()
    with uow() as u:
        assert u.refresh_tokens.get_by_hash_for_update(token.token_hash) == replace(token, used_at=NOW + S)


def test_revoke_family_revokes_that_family_only_and_counts(uow: UowFactory) -> None:
    user = new_user()
    fam = unique("fam")
    live = [new_token(user.id, family_id=fam, created_at=NOW + n * S) for n in range(2)]
    already = new_token(user.id, family_id=fam, created_at=NOW + 2 * S, revoked_at=NOW)
    stranger = new_token(user.id)
    saved(uow, user, already, *live, stranger)
    with uow() as u:
        assert u.refresh_tokens.revoke_family(fam, NOW + S) == 2
        u.commit()
    with uow() as u:
        revoked = [t.revoked_at for t in u.refresh_tokens.family(fam)]
        assert revoked == [NOW + S, NOW + S, NOW]  # oldest first; the earlier revocation is kept
        assert u.refresh_tokens.get_by_hash_for_update(stranger.token_hash).revoked_at is None
        assert u.refresh_tokens.revoke_family(fam, NOW + 2 * S) == 0


def as_caller(user: User) -> Principal:
    return Principal(user_id=user.id, role=user.role, plan=user.plan)


def test_get_for_access_reads_the_user_and_whether_its_family_is_revoked(uow: UowFactory) -> None:
    user, other = new_user(), new_user()
    live, dead = unique("fam"), unique("fam")
    saved(
        uow,
        user,
        other,
        new_token(user.id, family_id=live),
        new_token(user.id, family_id=dead, revoked_at=NOW),
        new_token(user.id, family_id=dead),
    )
    with uow() as u:
        caller, other_caller = as_caller(user), as_caller(other)
        assert u.users.get_for_access(user.id, live) == (caller, False)
        assert u.users.get_for_access(user.id, dead) == (caller, True)  # one revoked token revokes the family
        assert u.users.get_for_access(other.id, unique("fam")) == (other_caller, False)
        assert u.users.get_for_access("usr_nobody", dead) == (None, False)


# --- API keys -----------------------------------------------------------------------------------
def test_an_api_key_round_trips_by_id_and_by_hash(uow: UowFactory) -> None:
    user = new_user()
    key = new_key(user.id, last_used_at=NOW + S)
    saved(uow, user, key)
    with uow() as u:
        assert u.api_keys.get(key.id) == key
        assert u.api_keys.get_by_hash(key.key_hash) == key
        assert u.api_keys.get_by_hash("0" * 64) is None


def test_an_api_key_hash_is_unique_and_needs_a_known_user(uow: UowFactory) -> None:
    user = new_user()
    key = new_key(user.id)
    saved(uow, user, key)
    with pytest.raises(DuplicateRecord), uow() as u:
        u.api_keys.add(new_key(user.id, key_hash=key.key_hash))
    with pytest.raises(NotFound), uow() as u:  # a foreign-key failure: the user is not there (issue 19)
        u.api_keys.add(new_key(unique("usr")))


def test_revoke_and_touch_each_set_their_own_column(uow: UowFactory) -> None:
    user = new_user()
    key = new_key(user.id)
    saved(uow, user, key)
    with uow() as u:
        u.api_keys.touch(key.id, NOW + S)
        u.api_keys.revoke(key.id, NOW + 2 * S)
        u.commit()
    with uow() as u:
        assert u.api_keys.get(key.id) == replace(key, last_used_at=NOW + S, revoked_at=NOW + 2 * S)


def test_list_active_leaves_out_revoked_and_other_users_keys_oldest_first(uow: UowFactory) -> None:
    user, other = new_user(), new_user()
    newer, older = new_key(user.id, created_at=NOW + S), new_key(user.id)
    revoked, foreign = new_key(user.id, revoked_at=NOW), new_key(other.id)
    saved(uow, user, other, newer, older, revoked, foreign)
    with uow() as u:
        assert u.api_keys.list_active(user.id, limit=10) == [older, newer]


def test_list_active_pages_on_created_at_then_id(uow: UowFactory) -> None:
    user, base = new_user(), unique("key")
    tied = [new_key(user.id, id=f"{base}-{n}") for n in range(2)]  # the same created_at: id breaks the tie
    later = new_key(user.id, id=f"{base}-0-later", created_at=NOW + S)
    saved(uow, user, later, *reversed(tied))
    with uow() as u:
        assert u.api_keys.list_active(user.id, limit=2) == tied
        assert u.api_keys.list_active(user.id, limit=2, after=(tied[0].created_at, tied[0].id)) == [tied[1], later]
        assert u.api_keys.list_active(user.id, limit=2, after=(tied[1].created_at, tied[1].id)) == [later]


# --- the use cases on every backend -------------------------------------------------------------
@pytest.fixture
def identity(make_container: Callable[..., Any]) -> Any:
    return make_container(queue=RecordingJobQueue()).identity


def test_refresh_reuse_revokes_the_family_on_every_backend(identity: Any) -> None:
    first = identity.register(f"{unique('ada')}@example.com", "correct horse battery")
    newest = identity.refresh(first.refresh_token)
    with pytest.raises(TokenRevoked):
        identity.refresh(first.refresh_token)
    with pytest.raises(TokenRevoked):  # the revocation was committed although the call failed
        identity.refresh(newest.refresh_token)


class SlowReads:
    """Wraps a refresh-token repository: each read waits a little, so two requests overlap."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get_by_hash_for_update(self, token_hash: str) -> Any:
        found = self._inner.get_by_hash_for_update(token_hash)
        time.sleep(0.3)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_concurrent_refreshes_of_one_token_never_both_succeed(make_container: Callable[..., Any]) -> None:
    """The row lock makes the second request wait for the first, see the token spent, and revoke."""
    factory = make_container(queue=RecordingJobQueue()).uow

    @contextmanager
    def slow_uow() -> Iterator[Any]:
        with factory() as unit:
            unit.refresh_tokens = SlowReads(unit.refresh_tokens)
            yield unit

    identity = bootstrap(make_settings(), uow=slow_uow, queue=RecordingJobQueue()).identity
    token = identity.register(f"{unique('ada')}@example.com", "correct horse battery").refresh_token

    def attempt(_: int) -> str:
        try:
            identity.refresh(token)
            return "rotated"
        except TokenRevoked:
            return "revoked"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(attempt, range(2)))
    assert outcomes == ["revoked", "rotated"]
