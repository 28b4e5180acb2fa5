"""Provider events: verified, stored once by their id, then handled by a job.

- Store first. The event is inserted under its provider id (a unique key) before anything acts
  on it; a second delivery, even a concurrent one, hits the key and changes nothing. The route
  answers 200 as soon as the event is stored.
- Handle in a job (`billing.handle_event`), enqueued in the same unit of work, so it leaves only
  if the event was stored. A failing handler leaves the event `failed` with its error and raises,
  so the queue tries again with backoff (HANDLER_RETRY); the daily reconciliation retries what
  is still failed. Handlers are idempotent: every ledger call carries a key derived from the
  payment, invoice or reversal it is for.
- What an event does is looked up in one registry, event type -> handler, built in one place
  (`handler_registry` in handlers.py); a type not in it is stored and ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from domain.billing import objects as o
from domain.billing.model import EventStatus, ProviderEvent
from domain.billing.ports import BillingUnitOfWork, WebhookVerifier
from domain.billing.services.base import HANDLE_EVENT_JOB, BillingConfig
from domain.shared.clock import Clock
from domain.shared.errors import DuplicateRecord, NotFound
from domain.shared.jobs import Job
from domain.shared.uow import retrying, transaction

log = logging.getLogger(__name__)
ERROR_LENGTH = 1000
Outcome = tuple[EventStatus, str | None]
Handler = Callable[[Mapping[str, Any]], Outcome]


def _ignored(note: str) -> Outcome:
    return EventStatus.IGNORED, note


class EventIntake:
    """Receive, store once, and handle provider events through the handler registry."""

    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        verifier: WebhookVerifier,
        handlers: Mapping[str, Handler],
        config: BillingConfig,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._verifier = verifier
        self._handlers = handlers
        self.config = config  # the facade replaces it when its own config is replaced

    def receive_webhook(self, payload: bytes, signature_header: str) -> None:
        """Verify, store once, and leave the handling to the job queue. Raises InvalidSignature
        or InvalidEvent (nothing stored); a repeated event id is a no-op."""
        event = self._verifier.verify(payload, signature_header)
        self.store_event(event, source="webhook")

    def store_event(self, event: Mapping[str, Any], *, source: str, enqueue: bool = True) -> bool:
        """Store `event` once; True if it is new. With `enqueue`, its handling job leaves on commit."""
        o.check_event(event)
        record = ProviderEvent(
            id=event["id"],
            type=event["type"],
            created=o.timestamp(event, "created"),  # type: ignore[arg-type]
            payload=json.dumps(event, separators=(",", ":"), sort_keys=True),
            status=EventStatus.RECEIVED,
            received_at=self._clock.now(),
            source=source,
        )

        def attempt(uow: BillingUnitOfWork) -> bool:
            if uow.billing.get_event(record.id) is not None:
                return False
            uow.billing.add_event(record)
            if enqueue:
                uow.enqueue(
                    Job(
                        HANDLE_EVENT_JOB,
                        {"event_id": record.id},
                        job_id=f"billing-event-{record.id}",
                        retry=self.config.handler_retry,
                    )
                )
            return True

        try:
            stored = transaction(self._uow, attempt)
        except DuplicateRecord:  # a concurrent delivery stored it first (rolled back, not retried)
            stored = False
        log.info("provider event received", extra={"event_id": record.id, "type": record.type, "new": stored})
        return stored

    def handle_event(self, event_id: str) -> str:
        """Act on a stored event (once: handled events are skipped). Returns its status."""
        with self._uow() as uow:
            stored = uow.billing.get_event(event_id)
        if stored is None:
            raise NotFound(f"No stored event {event_id!r}.")
        if stored.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
            return stored.status.value
        try:
            payload = json.loads(stored.payload)
            status, note = retrying(lambda: self.dispatch(payload))  # handlers are idempotent
        except Exception as error:  # recorded on the event, then raised again for the queue's retry
            self._finish_event(event_id, EventStatus.FAILED, error=f"{type(error).__name__}: {error}")
            log.warning("provider event failed", extra={"event_id": event_id, "type": stored.type}, exc_info=True)
            raise
        self._finish_event(event_id, status, note=note)
        return status.value

    def _finish_event(
        self, event_id: str, status: EventStatus, *, error: str | None = None, note: str | None = None
    ) -> None:
        def attempt(uow: BillingUnitOfWork) -> None:
            stored = uow.billing.get_event(event_id)
            if stored is None or stored.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
                return
            stored.status, stored.attempts = status, stored.attempts + 1
            stored.last_error = error[:ERROR_LENGTH] if error else None
            stored.note = note[:255] if note else None
            stored.handled_at = self._clock.now()
            uow.billing.update_event(stored)

        transaction(self._uow, attempt)

    def dispatch(self, event: Mapping[str, Any]) -> Outcome:
        handler = self._handlers.get(event["type"])
        if handler is None:
            return _ignored("type not handled")
        return handler(event)
