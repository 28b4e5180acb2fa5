"""The SQL unit of work: one connection and one transaction per use case; the only committer."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from adapters.sql.billing import SqlBillingRepository
from adapters.sql.db import Db, guarded, raise_translated, translate
from adapters.sql.outage import connection_unusable, database_unavailable
from adapters.sql.coaching import SqlCoachingRepository
from adapters.sql.identity import SqlApiKeyRepository, SqlRefreshTokenRepository, SqlUserRepository
from adapters.sql.ledger import SqlLedgerRepository
from adapters.sql.platform import SqlAuditRepository, SqlLoginRepository, SqlUserDirectory
from domain.shared.errors import OutcomeUnknown
from adapters.sql.outbox import SqlOutboxRepository
from adapters.sql.webhooks import SqlNotificationRepository, SqlWebhookRepository
from adapters.sql.personal_data import SqlPersonalData
from adapters.sql.referrals import SqlReferralRepository
from adapters.sql.sales import SqlSalesStore
from adapters.sql.teams import SqlBudgetRepository, SqlTeamsRepository
from domain.shared.jobs import JobQueue
from domain.shared.uow import UnitOfWorkBase

log = logging.getLogger(__name__)

__all__ = ["Db", "SqlUnitOfWork", "SqlUnitOfWorkFactory", "guarded", "translate"]  # Db & co. live in adapters.sql.db


class SqlUnitOfWork(UnitOfWorkBase):
    users: SqlUserRepository
    refresh_tokens: SqlRefreshTokenRepository
    api_keys: SqlApiKeyRepository
    ledger: SqlLedgerRepository
    logins: SqlLoginRepository
    audit: SqlAuditRepository
    directory: SqlUserDirectory
    billing: SqlBillingRepository
    coaching: SqlCoachingRepository
    outbox: SqlOutboxRepository
    webhooks: SqlWebhookRepository
    notifications: SqlNotificationRepository
    referrals: SqlReferralRepository
    personal_data: SqlPersonalData
    sales: SqlSalesStore
    teams: SqlTeamsRepository
    budgets: SqlBudgetRepository

    def __init__(self, engine: Engine, queue: JobQueue | None = None) -> None:
        super().__init__(queue)
        self._engine = engine
        self._connection: Connection | None = None

    def _begin(self) -> None:
        self._connection = guarded(self._engine.connect)
        guarded(self._connection.begin)
        db = Db(self._connection)
        self.users = SqlUserRepository(db)
        self.refresh_tokens = SqlRefreshTokenRepository(db)
        self.api_keys = SqlApiKeyRepository(db)
        self.ledger = SqlLedgerRepository(db)
        self.logins = SqlLoginRepository(db)
        self.audit = SqlAuditRepository(db)
        self.directory = SqlUserDirectory(db)
        self.billing = SqlBillingRepository(db)
        self.coaching = SqlCoachingRepository(db)
        self.outbox, self.webhooks, self.notifications = SqlOutboxRepository(db), SqlWebhookRepository(db), SqlNotificationRepository(db)
        self.referrals = SqlReferralRepository(db)
        self.personal_data = SqlPersonalData(db)
        self.sales = SqlSalesStore(db)
        self.teams, self.budgets = SqlTeamsRepository(db), SqlBudgetRepository(db)

    def _commit(self) -> None:
        """COMMIT. A connection lost on the way (or a Galera node that stopped serving) leaves the
        outcome unknown: the server may have committed before the answer was lost. That is
        `OutcomeUnknown`, never `Unavailable` ("nothing happened"): the caller finds out by its
        idempotency key on a fresh connection (domain/ledger/services/book.py, `once`)."""
        assert self._connection is not None
        try:
            self._connection.commit()
        except exc.DBAPIError as error:
            if database_unavailable(error) is None:
                raise_translated(error)  # 1213 (a certification conflict) and the like: nothing committed
            raise OutcomeUnknown(
                "The database connection was lost while this request was being committed; it may "
                "have taken effect. Retry with the same Idempotency-Key to get its result.",
                details={"dependency": "database"},
            ) from error
        except exc.PendingRollbackError as error:  # the transaction had already died: nothing committed
            raise connection_unusable() from error

    def _mark_sent(self, ids: list[str]) -> None:  # issue 22: the outbox rows just handed to the queue
        assert self._connection is not None
        self.outbox.mark_sent(ids, datetime.now(timezone.utc))
        guarded(self._connection.commit)

    def _rollback(self) -> None:
        """Roll back, and never replace the error in flight: a ROLLBACK on a dead connection
        fails (a raw driver error, a 500, and one more read timeout on a frozen server), and the
        server rolls back an abandoned transaction by itself. The connection is dropped instead."""
        if self._connection is None:
            return
        try:
            self._connection.rollback()
        except Exception:  # noqa: BLE001 - whatever it was, the transaction is gone with the connection
            log.warning("rollback failed; dropping the connection", exc_info=True)
            try:
                self._connection.invalidate()
            except Exception:  # noqa: BLE001
                log.debug("invalidate after a failed rollback failed too", exc_info=True)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, queue: JobQueue | None = None) -> None:
        self.engine = engine
        self.queue = queue

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.queue)
