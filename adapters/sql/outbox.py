"""The SQL outbox repository: rows written in the use case's transaction, read by the relay."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from adapters.sql.outbox_tables import outbox
from domain.shared.outbox import OutboxMessage, job_from_record, job_to_record

if TYPE_CHECKING:
    from adapters.sql.db import Db


class SqlOutboxRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, message: OutboxMessage) -> None:
        self._db.execute(
            insert(outbox).values(
                id=message.id,
                job_name=message.job.name[:100],
                job=json.dumps(job_to_record(message.job)),
                created_at=message.created_at,
                sent_at=None,
                attempts=0,
            )
        )

    def pending(self, *, created_before: datetime, limit: int) -> list[OutboxMessage]:
        rows = self._db.execute(
            select(outbox)
            .where(outbox.c.sent_at.is_(None), outbox.c.created_at <= created_before)
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(limit)
        ).mappings()
        return [
            OutboxMessage(
                id=row["id"],
                job=job_from_record(json.loads(row["job"])),
                created_at=row["created_at"],
                sent_at=row["sent_at"],
                attempts=row["attempts"],
            )
            for row in rows
        ]

    def mark_sent(self, ids: Sequence[str], at: datetime) -> None:
        if ids:
            self._db.execute(update(outbox).where(outbox.c.id.in_(list(ids))).values(sent_at=at))

    def mark_failed(self, ids: Sequence[str]) -> None:
        if ids:
            self._db.execute(update(outbox).where(outbox.c.id.in_(list(ids))).values(attempts=outbox.c.attempts + 1))

    def purge_sent(self, sent_before: datetime, limit: int) -> int:
        ids = list(
            self._db.execute(
                select(outbox.c.id).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < sent_before).limit(limit)
            ).scalars()
        )  # (MariaDB takes no LIMIT in an IN subquery: two statements)
        if ids:
            self._db.execute(delete(outbox).where(outbox.c.id.in_(ids)))
        return len(ids)
