"""API-key use cases: create (shown once), list, revoke, and authenticate by key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from domain.identity.errors import (
    ApiKeyLimitReached,
    ApiKeyNotFound,
    InvalidToken,
    UserNotFound,
)
from domain.identity.model import (
    API_KEY_NAME_MAX_LENGTH,
    API_KEY_SCHEME,
    ApiKey,
    Principal,
    clean_name,
    hash_secret,
    new_api_key,
)
from domain.identity.ports import IdentityUnitOfWork
from domain.shared.audit import AuditAction, AuditRecord
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.ids import IdGenerator
from domain.shared.pagination import (
    MAX_PAGE,
    Page,
    check_limit,
    cursor_datetime,
    decode_cursor,
    id_cursor,
    page_of,
)
from domain.shared.uow import transaction

API_KEY_MAX_LENGTH = 200  # anything longer is not one of ours: refused before any lookup
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often per key


class ApiKeyUseCases:
    """Create, list, revoke and authenticate API keys."""

    def __init__(
        self,
        *,
        uow: Callable[[], IdentityUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        api_keys_per_user: int = 50,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._api_keys_per_user = api_keys_per_user

    def create_api_key(self, user_id: str, name: str) -> tuple[ApiKey, str]:
        """A new key; the plaintext is returned here only, and only its hash is stored."""
        cleaned = clean_name(name, max_length=API_KEY_NAME_MAX_LENGTH)
        if cleaned is None:
            raise InvalidInput("The key needs a name.", details={"name": "Required."})
        issued = new_api_key()
        key = ApiKey(
            id=self._ids.new_id("key"),
            user_id=user_id,
            name=cleaned,
            prefix=issued.prefix,
            key_hash=issued.key_hash,
            created_at=self._clock.now(),
        )
        transaction(self._uow, lambda uow: self._add_api_key(uow, key))
        return key, issued.plaintext

    def _add_api_key(self, uow: IdentityUnitOfWork, key: ApiKey) -> None:
        """Count, then insert, under a lock on the user's row: without it, concurrent requests each
        counted 49 and each inserted (64 at once made 51-60 keys against a cap of 50 on MariaDB)."""
        if uow.users.get_for_update(key.user_id) is None:
            raise UserNotFound()
        cap = self._api_keys_per_user
        if len(uow.api_keys.list_active(key.user_id, limit=cap)) >= cap:
            raise ApiKeyLimitReached(cap)
        uow.api_keys.add(key)
        uow.audit.add(self._security_event(AuditAction.API_KEY_CREATED, key))

    def list_api_keys(self, user_id: str) -> list[ApiKey]:
        """Every non-revoked key of the user, oldest first."""
        page = self.api_keys_page(user_id, limit=MAX_PAGE)
        keys = list(page.items)
        while page.next_cursor is not None:
            page = self.api_keys_page(user_id, limit=MAX_PAGE, cursor=page.next_cursor)
            keys.extend(page.items)
        return keys

    def api_keys_page(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[ApiKey]:
        """The user's non-revoked keys, oldest first, in keyset pages on (created_at, id)."""
        check_limit(limit)
        after = _key_cursor(cursor)
        with self._uow() as uow:
            keys = uow.api_keys.list_active(user_id, limit=limit + 1, after=after)
        return page_of(keys, limit, lambda last: {"t": last.created_at.isoformat(), "id": last.id})

    def revoke_api_key(self, user_id: str, key_id: str) -> None:
        """Revoke at once. Unknown, already revoked or another user's key: the same 404 for all."""
        transaction(self._uow, lambda uow: self._revoke_api_key(uow, user_id, key_id))

    def _revoke_api_key(self, uow: IdentityUnitOfWork, user_id: str, key_id: str) -> None:
        key = uow.api_keys.get(key_id)
        if key is None or key.user_id != user_id or key.revoked_at is not None:
            raise ApiKeyNotFound()
        uow.api_keys.revoke(key_id, self._clock.now())
        uow.audit.add(self._security_event(AuditAction.API_KEY_REVOKED, key))

    def _security_event(self, action: AuditAction, key: ApiKey) -> AuditRecord:
        """The audit record of a key's creation or revocation by its owner (name and prefix only)."""
        return AuditRecord(
            id=self._ids.new_id("aud"),
            at=self._clock.now(),
            actor_id=key.user_id,
            action=action,
            subject_type="api_key",
            subject_id=key.id,
            details={"name": key.name, "prefix": key.prefix},
        )

    def authenticate_api_key(self, key: str) -> Principal:
        if not key.startswith(API_KEY_SCHEME) or len(key) > API_KEY_MAX_LENGTH:
            raise InvalidToken("The API key is not valid.")
        now = self._clock.now()
        with self._uow() as uow:  # a read: on MariaDB its transaction goes on in the request's next unit
            found = uow.api_keys.get_by_hash(hash_secret(key))
            user = uow.users.get(found.user_id) if found is not None else None
        if found is None or found.revoked_at is not None or user is None:
            raise InvalidToken("The API key is not valid.")
        if found.last_used_at is None or now - found.last_used_at >= API_KEY_TOUCH_INTERVAL:
            # throttled: at most one write per key per interval; a blind write of the time, safe to retry
            transaction(self._uow, lambda uow: uow.api_keys.touch(found.id, now))
        return Principal(user_id=user.id, role=user.role, api_key_id=found.id, plan=user.plan)


def _key_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (created_at, id) a `{"t": ..., "id": ...}` cursor points after."""
    key_id = id_cursor(cursor)
    if cursor is None or key_id is None:
        return None
    return cursor_datetime(decode_cursor(cursor).get("t")), key_id
