"""Outgoing webhooks (the Standard Webhooks specification): endpoints, fan-out, delivery, retries.

The saga of one event for one endpoint:

| step                                   | key                          | what finishes it if cut short              |
| -------------------------------------- | ---------------------------- | ------------------------------------------ |
| event + messages stored, jobs outboxed | event id; `<endpoint>:<event>` | the outbox relay (the fan-out job again)  |
| one HTTP attempt                       | `webhook-id` = the event id  | the delivery job, retried; the due sweep   |
| attempt logged, next try scheduled     | message id + attempt number  | the due sweep (`webhooks.sweep`, a minute) |

A message is tried at once, then after each wait of `WebhookConfig.retry_schedule` (with
jitter): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default: 8 attempts over about 28 h. It is
retried on timeouts, connection errors, refused addresses, redirects and any non-2xx answer.
`410 Gone` disables the endpoint at once. An endpoint whose deliveries have failed without a
success for `disable_after` (5 days) is disabled; both disablings notify the owner (in-app and
email). The first failure of a healthy endpoint notifies once (`webhook_endpoint_failing`).
While disabled, an endpoint's new messages wait in a backlog (the newest `backlog_max`); enabling
it sends them. Every attempt is logged (status, latency, error, the start of the response).

The delivery job sends outside any transaction (a slow receiver never holds a lock), and a
duplicate job (the outbox's at-least-once) finds the message already done and sends nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from domain.platform.notifications import Notifications
from domain.platform.webhooks_model import (
    Attempt,
    Endpoint,
    EndpointStatus,
    Message,
    MessageStatus,
    SendResult,
    StoredEvent,
    WebhookConfig,
)
from domain.platform.webhooks_ports import PlatformEventsUnitOfWork, WebhookSender, WebhookSigner
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, InvalidInput, NotFound
from domain.shared.events import EVENT_TYPES, TEST_EVENT, event_id
from domain.shared.ids import IdGenerator
from domain.shared.jobs import Job
from domain.shared.pagination import Page, check_limit, id_cursor, id_position, page_of
from domain.shared.uow import transaction

DELIVER_JOB = "webhooks.deliver"
MAX_EVENTS_PER_ENDPOINT = 50
DESCRIPTION_MAX = 500


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Webhooks:
    def __init__(
        self,
        *,
        uow: Callable[[], PlatformEventsUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        signer: WebhookSigner,
        sender: WebhookSender,
        notifications: Notifications,
        config: WebhookConfig = WebhookConfig(),
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._signer = signer
        self._sender = sender
        self._notifications = notifications
        self.config = config
        self._rng = rng or random.Random()

    # --- endpoints ----------------------------------------------------------------------------
    def create(self, user_id: str, url: str, events: Sequence[str], description: str | None) -> Endpoint:
        self._sender.check_url(url)
        checked = _events(events)
        now = self._clock.now()
        endpoint = Endpoint(
            id=self._ids.new_id("whe"),
            user_id=user_id,
            url=url,
            events=checked,
            description=(description or "")[:DESCRIPTION_MAX],
            status=EndpointStatus.ENABLED,
            secret=self._signer.new_secret(),
            created_at=now,
            updated_at=now,
        )

        def work(uow: PlatformEventsUnitOfWork) -> Endpoint:
            if uow.webhooks.count_endpoints(user_id) >= self.config.endpoints_per_user:
                raise Conflict(f"At most {self.config.endpoints_per_user} webhook endpoints per user.")
            uow.webhooks.add_endpoint(endpoint)
            return endpoint

        return transaction(self._uow, work)

    def list(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Endpoint]:
        check_limit(limit)
        with self._uow() as uow:
            items = uow.webhooks.endpoints_of(user_id, after=id_cursor(cursor), limit=limit + 1)
        return page_of(items, limit, id_position)

    def get(self, user_id: str, endpoint_id: str) -> Endpoint:
        with self._uow() as uow:
            return _owned(uow.webhooks.get_endpoint(endpoint_id), user_id)

    def update(
        self,
        user_id: str,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        status: EndpointStatus | None = None,
    ) -> Endpoint:
        if url is not None:
            self._sender.check_url(url)
        checked = _events(events) if events is not None else None

        def work(uow: PlatformEventsUnitOfWork) -> Endpoint:
            endpoint = _owned(uow.webhooks.get_endpoint(endpoint_id, for_update=True), user_id)
            now = self._clock.now()
            endpoint.url = url if url is not None else endpoint.url
            endpoint.events = checked if checked is not None else endpoint.events
            endpoint.description = description[:DESCRIPTION_MAX] if description is not None else endpoint.description
            if status is EndpointStatus.ENABLED and endpoint.status is EndpointStatus.DISABLED:
                self._enable(uow, endpoint, now)
            elif status is EndpointStatus.DISABLED:
                endpoint.status, endpoint.disabled_reason = EndpointStatus.DISABLED, "by_user"
            endpoint.updated_at = now
            uow.webhooks.update_endpoint(endpoint)
            return endpoint

        return transaction(self._uow, work)

    def _enable(self, uow: PlatformEventsUnitOfWork, endpoint: Endpoint, now: datetime) -> None:
        """Enable again: the backlog goes out, oldest first, as fresh messages."""
        endpoint.status, endpoint.disabled_reason = EndpointStatus.ENABLED, None
        endpoint.failing_since, endpoint.failing_notified = None, False
        for message in uow.webhooks.messages_of(
            endpoint.id, MessageStatus.BACKLOG.value, limit=self.config.backlog_max
        ):
            message.status, message.next_attempt_at, message.updated_at = MessageStatus.PENDING, now, now
            uow.webhooks.update_message(message)
            self._schedule(uow, message)

    def delete(self, user_id: str, endpoint_id: str) -> None:
        def work(uow: PlatformEventsUnitOfWork) -> None:
            _owned(uow.webhooks.get_endpoint(endpoint_id, for_update=True), user_id)
            uow.webhooks.delete_endpoint(endpoint_id)

        transaction(self._uow, work)

    def rotate_secret(self, user_id: str, endpoint_id: str) -> tuple[str, datetime]:
        """A new secret signs from now on; the old one keeps signing beside it for the overlap."""
        new_secret = self._signer.new_secret()

        def work(uow: PlatformEventsUnitOfWork) -> tuple[str, datetime]:
            endpoint = _owned(uow.webhooks.get_endpoint(endpoint_id, for_update=True), user_id)
            now = self._clock.now()
            endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret
            endpoint.previous_valid_until = now + self.config.rotation_overlap
            endpoint.updated_at = now
            uow.webhooks.update_endpoint(endpoint)
            return new_secret, endpoint.previous_valid_until

        return transaction(self._uow, work)

    def deliveries(self, user_id: str, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        check_limit(limit)
        with self._uow() as uow:
            _owned(uow.webhooks.get_endpoint(endpoint_id), user_id)
            items = uow.webhooks.attempts_of(endpoint_id, after=id_cursor(cursor), limit=limit + 1)
        return page_of(items, limit, id_position)

    # --- test and replay ----------------------------------------------------------------------
    def send_test(self, user_id: str, endpoint_id: str) -> str:
        """Queue a `webhook.test` event for this endpoint only (sent even while it is disabled)."""

        def work(uow: PlatformEventsUnitOfWork) -> str:
            endpoint = _owned(uow.webhooks.get_endpoint(endpoint_id), user_id)
            now = self._clock.now()
            test_id = self._ids.new_id("test")
            new_id = event_id(TEST_EVENT, test_id, 1)
            body = {
                "type": TEST_EVENT,
                "id": new_id,
                "created_at": _iso(now),
                "data": {"object": {"id": test_id, "endpoint_id": endpoint.id}, "version": 1},
            }
            uow.webhooks.add_event(StoredEvent(new_id, user_id, TEST_EVENT, body, now))
            self._add_message(uow, endpoint, new_id, TEST_EVENT, f"{endpoint.id}:{new_id}", force=True)
            return new_id

        return transaction(self._uow, work)

    def replay(self, user_id: str, endpoint_id: str, since: datetime) -> int:
        """Send again every event of the endpoint's types since `since` (at most `replay_max`),
        with their original ids: receivers that already have one drop it."""
        replay_id = self._ids.new_id("rpl")

        def work(uow: PlatformEventsUnitOfWork) -> int:
            endpoint = _owned(uow.webhooks.get_endpoint(endpoint_id), user_id)
            count = 0
            for event in uow.webhooks.events_since(user_id, since, limit=self.config.replay_max):
                if endpoint.wants(event.type):
                    key = f"{endpoint.id}:{event.id}:{replay_id}"
                    count += self._add_message(uow, endpoint, event.id, event.type, key)
            return count

        return transaction(self._uow, work)

    # --- fan-out (inside the event job's unit of work) ----------------------------------------
    def fan_out(self, uow: PlatformEventsUnitOfWork, user_id: str, body: Mapping[str, Any]) -> int:
        """Store the event and one message per endpoint of its owner that wants it."""
        event = StoredEvent(str(body["id"]), user_id, str(body["type"]), dict(body), self._clock.now())
        uow.webhooks.add_event(event)
        count, after = 0, None
        while True:
            endpoints = uow.webhooks.endpoints_of(user_id, after=after, limit=100)
            for endpoint in endpoints:
                if endpoint.wants(event.type):
                    count += self._add_message(uow, endpoint, event.id, event.type, f"{endpoint.id}:{event.id}")
            if len(endpoints) < 100:
                return count
            after = endpoints[-1].id

    def _add_message(
        self,
        uow: PlatformEventsUnitOfWork,
        endpoint: Endpoint,
        event_id_: str,
        event_type: str,
        key: str,
        *,
        force: bool = False,
    ) -> int:
        now = self._clock.now()
        backlog = endpoint.status is EndpointStatus.DISABLED and not force
        message = Message(
            id=self._ids.new_id("whm"),
            endpoint_id=endpoint.id,
            event_id=event_id_,
            event_type=event_type,
            dedupe_key=key[:200],
            status=MessageStatus.BACKLOG if backlog else MessageStatus.PENDING,
            attempts=0,
            next_attempt_at=None if backlog else now,
            created_at=now,
            updated_at=now,
        )
        if not uow.webhooks.add_message(message):
            return 0
        if backlog:
            uow.webhooks.drop_backlog_over(endpoint.id, self.config.backlog_max)
        else:
            self._schedule(uow, message)
        return 1

    def _schedule(self, uow: PlatformEventsUnitOfWork, message: Message) -> None:
        uow.enqueue(
            Job(
                DELIVER_JOB,
                {"message_id": message.id},
                run_at=message.next_attempt_at,
                job_id=f"whm-{message.id}-{message.attempts}",
            )
        )

    # --- delivery (the job) -------------------------------------------------------------------
    def deliver(self, message_id: str) -> str:
        """One attempt at one message, if it is due; returns what happened."""
        now = self._clock.now()
        with self._uow() as uow:
            message = uow.webhooks.get_message(message_id)
            endpoint = uow.webhooks.get_endpoint(message.endpoint_id) if message else None
            event = uow.webhooks.get_event(message.event_id) if message else None
        if message is None or endpoint is None or event is None:
            return "gone"
        if message.status is not MessageStatus.PENDING:
            return str(message.status.value)
        if message.next_attempt_at is not None and message.next_attempt_at > now:
            return "not due"  # an early duplicate, or the inline queue ignoring run_at: the sweep sends it
        if endpoint.status is EndpointStatus.DISABLED and event.type != TEST_EVENT:
            return transaction(self._uow, lambda uow: self._to_backlog(uow, message_id))
        body = json.dumps(event.body, separators=(",", ":"), sort_keys=True).encode()
        headers = self._signer.headers(endpoint.signing_secrets(now), event.id, now, body)
        result = self._sender.send(endpoint.url, headers, body)
        return transaction(self._uow, lambda uow: self._record(uow, message_id, result))

    def _to_backlog(self, uow: PlatformEventsUnitOfWork, message_id: str) -> str:
        message = uow.webhooks.get_message(message_id, for_update=True)
        if message is not None and message.status is MessageStatus.PENDING:
            message.status, message.next_attempt_at, message.updated_at = MessageStatus.BACKLOG, None, self._clock.now()
            uow.webhooks.update_message(message)
            uow.webhooks.drop_backlog_over(message.endpoint_id, self.config.backlog_max)
        return "backlog"

    def _record(self, uow: PlatformEventsUnitOfWork, message_id: str, result: SendResult) -> str:
        message = uow.webhooks.get_message(message_id, for_update=True)
        endpoint = uow.webhooks.get_endpoint(message.endpoint_id, for_update=True) if message else None
        if message is None or endpoint is None:
            return "gone"
        now = self._clock.now()
        message.attempts += 1
        uow.webhooks.add_attempt(
            Attempt(
                id=self._ids.new_id("wha"),
                endpoint_id=endpoint.id,
                message_id=message.id,
                event_id=message.event_id,
                event_type=message.event_type,
                attempt=message.attempts,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=(result.error or None) and result.error[:500],
                response=(result.response or None) and result.response[:1000],
                created_at=now,
            )
        )
        outcome = self._outcome(uow, endpoint, message, result, now)
        message.updated_at = now
        uow.webhooks.update_message(message)
        endpoint.updated_at = now
        uow.webhooks.update_endpoint(endpoint)
        return outcome

    def _outcome(
        self, uow: PlatformEventsUnitOfWork, endpoint: Endpoint, message: Message, result: SendResult, now: datetime
    ) -> str:
        if message.status is not MessageStatus.PENDING:
            return str(message.status.value)  # a duplicate attempt finished it first: only logged
        if result.ok:
            message.status, message.next_attempt_at = MessageStatus.SUCCEEDED, None
            endpoint.failing_since, endpoint.failing_notified = None, False
            return "succeeded"
        if result.status_code == 410:
            message.status, message.next_attempt_at = MessageStatus.FAILED, None
            self._disable(uow, endpoint, "gone", "The endpoint answered 410 Gone.")
            return "disabled"
        endpoint.failing_since = endpoint.failing_since or now
        if not endpoint.failing_notified:
            endpoint.failing_notified = True
            self._notifications.notify(
                uow,
                endpoint.user_id,
                "webhook_endpoint_failing",
                title="A webhook endpoint is failing",
                body=f"Deliveries to {endpoint.url} are failing ({_reason(result)}); we keep retrying.",
                dedupe_key=f"{endpoint.id}:{_iso(endpoint.failing_since)}",
                data={"endpoint_id": endpoint.id},
            )
        if now - endpoint.failing_since >= self.config.disable_after and endpoint.status is EndpointStatus.ENABLED:
            message.status, message.next_attempt_at = MessageStatus.FAILED, None
            self._disable(uow, endpoint, "failing", f"Deliveries have failed since {_iso(endpoint.failing_since)}.")
            return "disabled"
        wait = self.config.next_wait(message.attempts, self._rng)
        if wait is None:
            message.status, message.next_attempt_at = MessageStatus.FAILED, None
            return "failed"
        message.next_attempt_at = now + timedelta(seconds=wait)
        self._schedule(uow, message)
        return "retrying"

    def _disable(self, uow: PlatformEventsUnitOfWork, endpoint: Endpoint, reason: str, why: str) -> None:
        if endpoint.status is EndpointStatus.DISABLED:
            return
        endpoint.status, endpoint.disabled_reason = EndpointStatus.DISABLED, reason
        self._notifications.notify(
            uow,
            endpoint.user_id,
            "webhook_endpoint_disabled",
            title="A webhook endpoint was disabled",
            body=f"{endpoint.url} was disabled: {why} Enable it again once it answers; missed events wait for it.",
            dedupe_key=f"{endpoint.id}:{_iso(self._clock.now())}",
            data={"endpoint_id": endpoint.id, "reason": reason},
        )

    # --- the sweep (periodic) -----------------------------------------------------------------
    def sweep(self, limit: int = 500) -> int:
        """Queue every pending message whose attempt is due (a lost job, the inline queue)."""
        now = self._clock.now()

        def work(uow: PlatformEventsUnitOfWork) -> int:
            ids = uow.webhooks.due_messages(now - timedelta(seconds=5), limit=limit)
            for message_id in ids:
                uow.enqueue(
                    Job(
                        DELIVER_JOB,
                        {"message_id": message_id},
                        job_id=f"whm-{message_id}-sweep-{int(now.timestamp()) // 60}",
                    )
                )
            return len(ids)

        return transaction(self._uow, work)


def _reason(result: SendResult) -> str:
    return f"HTTP {result.status_code}" if result.status_code is not None else (result.error or "no answer")


def _events(events: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(events))
    if not chosen:
        raise InvalidInput("Name at least one event type.", details={"events": "Must not be empty."})
    if len(chosen) > MAX_EVENTS_PER_ENDPOINT:
        raise InvalidInput("Too many event types.", details={"events": "Too many."})
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise InvalidInput("Unknown event types.", details={"events": f"Unknown: {', '.join(sorted(unknown))[:200]}."})
    return chosen


def _owned(endpoint: Endpoint | None, user_id: str) -> Endpoint:
    if endpoint is None or endpoint.user_id != user_id:
        raise NotFound("No such webhook endpoint.")
    return endpoint


__all__ = ["DELIVER_JOB", "Webhooks", "replace"]
