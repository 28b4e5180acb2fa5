"""What outgoing webhooks need: storage, a signer (Standard Webhooks) and an HTTP sender."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from domain.identity.logins import LoginRepository
from domain.identity.model import User
from domain.platform.notifications_model import NotificationRepository
from domain.platform.webhooks_model import Attempt, Endpoint, Message, SendResult, StoredEvent
from domain.shared.uow import UnitOfWork


class WebhookRepository(Protocol):
    def add_endpoint(self, endpoint: Endpoint) -> None: ...
    def get_endpoint(self, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None: ...
    def update_endpoint(self, endpoint: Endpoint) -> None: ...
    def delete_endpoint(self, endpoint_id: str) -> None:
        """Remove the endpoint, its messages and its delivery log."""

    def endpoints_of(self, user_id: str, *, after: str | None, limit: int) -> list[Endpoint]:
        """The user's endpoints by id descending (newest first), ids < after."""

    def count_endpoints(self, user_id: str) -> int: ...

    def add_event(self, event: StoredEvent) -> bool:
        """Store the event once; False when its id is already stored."""

    def get_event(self, event_id: str) -> StoredEvent | None: ...
    def events_since(self, user_id: str, since: datetime, *, limit: int) -> list[StoredEvent]:
        """The user's events created at or after `since`, oldest first."""

    def add_message(self, message: Message) -> bool:
        """Store the message once; False when its dedupe key is already stored."""

    def get_message(self, message_id: str, *, for_update: bool = False) -> Message | None: ...
    def update_message(self, message: Message) -> None: ...
    def due_messages(self, now: datetime, *, limit: int) -> list[str]:
        """Ids of pending messages whose next attempt is due (oldest first)."""

    def messages_of(self, endpoint_id: str, status: str, *, limit: int) -> list[Message]:
        """The endpoint's messages in `status`, oldest first."""

    def drop_backlog_over(self, endpoint_id: str, keep: int) -> int:
        """Mark `failed` the oldest backlog messages beyond the newest `keep`; return how many."""

    def purge_events(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` events created before `before` that no pending or backlog message
        refers to; return how many."""

    def purge_messages(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` finished (succeeded or failed) messages created before `before`
        whose event is no longer stored; return how many. Their dedupe key guarded a replay of an
        event that can no longer be replayed."""

    def purge_attempts(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` delivery-log rows created before `before`; return how many."""

    def add_attempt(self, attempt: Attempt) -> None: ...
    def attempts_of(self, endpoint_id: str, *, after: str | None, limit: int) -> list[Attempt]:
        """The delivery log, newest first (id descending), ids < after."""


class WebhookSigner(Protocol):
    def new_secret(self) -> str:
        """`whsec_` + base64 of fresh random bytes."""

    def headers(self, secrets: list[str], message_id: str, at: datetime, body: bytes) -> Mapping[str, str]:
        """`webhook-id`, `webhook-timestamp`, `webhook-signature` (one `v1,...` per secret)."""


class WebhookSender(Protocol):
    def check_url(self, url: str) -> None:
        """Raise InvalidInput when the URL can never be delivered to (scheme, shape, refused host)."""

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST once; never raises for the receiver's or the network's faults (they are in the result)."""


class NotificationsUnitOfWorkPart(Protocol):
    @property
    def notifications(self) -> NotificationRepository: ...
    @property
    def users(self) -> _Users: ...
    @property
    def logins(self) -> LoginRepository: ...


class _Users(Protocol):
    def get(self, user_id: str) -> User | None: ...


class PlatformEventsUnitOfWork(UnitOfWork, Protocol):
    """One transaction over webhooks, notifications and users (every storage adapter's unit of work)."""

    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def notifications(self) -> NotificationRepository: ...
    @property
    def users(self) -> _Users: ...
    @property
    def logins(self) -> LoginRepository: ...
