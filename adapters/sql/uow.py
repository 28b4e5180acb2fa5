"""The SQL unit of work: one connection and one transaction per use case; the only committer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from adapters.sql.billing import SqlBillingRepository
from adapters.sql.coaching import SqlCoachingRepository
from adapters.sql.db import Db, guarded, raise_translated, translate
from adapters.sql.identity import SqlApiKeyRepository, SqlRefreshTokenRepository, SqlUserRepository
from adapters.sql.ledger import SqlLedgerRepository
from adapters.sql.outage import connection_unusable, database_unavailable
from adapters.sql.outbox import SqlOutboxRepository
from adapters.sql.personal_data import SqlPersonalData
from adapters.sql.platform import SqlAuditRepository, SqlLoginRepository, SqlUserDirectory
from adapters.sql.referrals import SqlReferralRepository
from adapters.sql.sales import SqlSalesStore
from adapters.sql.teams import SqlBudgetRepository, SqlTeamsRepository
from adapters.sql.webhooks import SqlNotificationRepository, SqlWebhookRepository
from domain.shared.errors import OutcomeUnknown
from domain.shared.jobs import JobQueue
from domain.shared.uow import UnitOfWorkBase

log = logging.getLogger(__name__)

__all__ = ["Db", "SqlUnitOfWork", "SqlUnitOfWorkFactory", "guarded", "translate"]  # Db & co. live in adapters.sql.db


class RequestConnection:
    """One connection for all the units of work of one HTTP request (issue 25).

    Authentication reads the token's user in a unit of work of its own before the use case opens
    another. Each used to check a connection out of the pool and end its transaction: a read and a
    ROLLBACK before the use case's first statement. Within a request scope the units of work share
    one connection, and a unit of work that only read (plain SELECTs: no write, no row lock) and
    ends without committing leaves its transaction open for the next one instead of rolling it
    back. Under READ COMMITTED every statement reads what is committed when it runs, so the use
    case sees exactly what it would have seen in a transaction of its own: a logout, a reused
    refresh token, a demotion or a revoked API key still count from the next request on, because
    nothing is kept beyond the request. The scope's end rolls back a transaction still open. On
    MariaDB those reads carry their own COMMIT (adapters/sql/db.py, `Db._run`): the carried
    "transaction" is SQLAlchemy's only, and no ROLLBACK is sent at the end of a read-only request.

    Anything else ends as before: a unit of work that wrote or locked and did not commit, or that
    ended with an error, rolls back and gives the connection back to the pool, so the next one
    (a retry, the lookup after a lost COMMIT) starts on a fresh checkout. A unit of work opened
    while another is open (nested) takes a connection of its own. MySQL/MariaDB only: SQLite
    keeps one connection and one transaction per unit of work (its BEGIN IMMEDIATE takes the
    write lock, which a carried read must not hold).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None
        self.busy = False

    def lend(self) -> Connection:
        connection = self.connection
        if connection is None or connection.closed or connection.invalidated:
            self.release()
            connection = self.connection = guarded(self.engine.connect)
        self.busy = True
        return connection

    def give_back(self, *, keep: bool) -> None:
        self.busy = False
        if not keep:
            self.release()

    def release(self) -> None:
        """End a transaction still open and return the connection to the pool."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            if connection.in_transaction() and not connection.invalidated:
                connection.rollback()
        except Exception:  # noqa: BLE001 - a dead connection: the server ends its transaction itself
            log.warning("rollback at the end of a request failed; dropping the connection", exc_info=True)
            try:
                connection.invalidate()
            except Exception:  # noqa: BLE001
                log.debug("invalidate after a failed rollback failed too", exc_info=True)
        finally:
            connection.close()


_REQUEST_CONNECTION: ContextVar[RequestConnection | None] = ContextVar("houston_request_connection", default=None)


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
        self._shared: RequestConnection | None = None
        self._db: Db | None = None

    def _begin(self) -> None:
        shared = _REQUEST_CONNECTION.get()
        if shared is not None and shared.engine is self._engine and not shared.busy:
            self._shared = shared
            self._connection = shared.lend()
        else:
            self._shared = None
            self._connection = guarded(self._engine.connect)
        if not self._connection.in_transaction():  # else: the read-only transaction a unit of work left open
            try:
                guarded(self._connection.begin)
            except BaseException:
                self._close_after(keep=False)
                raise
        db = self._db = Db(self._connection)
        self.users = SqlUserRepository(db)
        self.refresh_tokens = SqlRefreshTokenRepository(db)
        self.api_keys = SqlApiKeyRepository(db)
        self.ledger = SqlLedgerRepository(db)
        self.logins = SqlLoginRepository(db)
        self.audit = SqlAuditRepository(db)
        self.directory = SqlUserDirectory(db)
        self.billing = SqlBillingRepository(db)
        self.coaching = SqlCoachingRepository(db)
        self.outbox, self.webhooks, self.notifications = (
            SqlOutboxRepository(db),
            SqlWebhookRepository(db),
            SqlNotificationRepository(db),
        )
        self.referrals = SqlReferralRepository(db)
        self.personal_data = SqlPersonalData(db)
        self.sales = SqlSalesStore(db)
        self.teams, self.budgets = SqlTeamsRepository(db), SqlBudgetRepository(db)

    def _commit(self) -> None:
        """COMMIT. A connection lost on the way (or a Galera node that stopped serving) leaves the
        outcome unknown: the server may have committed before the answer was lost. That is
        `OutcomeUnknown`, never `Unavailable` ("nothing happened"): the caller finds out by its
        idempotency key on a fresh connection (domain/ledger/services/book.py, `once`). Writes that
        waited for the COMMIT (adapters/sql/batch.py) go with it in one round trip: a connection
        lost then is the same unknown outcome, a duplicate key the same `DuplicateRecord`."""
        assert self._connection is not None
        try:
            batch = self._db.batch if self._db is not None else None
            if batch is not None and batch.pending:
                batch.send(commit=True)  # the deferred writes and COMMIT, one round trip
                try:
                    self._connection.commit()  # ends SQLAlchemy's transaction, sends nothing
                finally:
                    batch.sent_commit_consumed()
            else:
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
        self.outbox.mark_sent(ids, datetime.now(UTC))
        guarded(self._connection.commit)

    def _rollback(self) -> None:
        """Roll back, and never replace the error in flight: a ROLLBACK on a dead connection
        fails (a raw driver error, a 500, and one more read timeout on a frozen server), and the
        server rolls back an abandoned transaction by itself. The connection is dropped instead."""
        if self._connection is None:
            return
        if self._db is not None and self._db.batch is not None:
            self._db.batch.discard()
        try:
            self._connection.rollback()
        except Exception:  # noqa: BLE001 - whatever it was, the transaction is gone with the connection
            log.warning("rollback failed; dropping the connection", exc_info=True)
            try:
                self._connection.invalidate()
            except Exception:  # noqa: BLE001
                log.debug("invalidate after a failed rollback failed too", exc_info=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None and not self._committed and self._carries():
            # only read, and ends cleanly: its transaction goes on in the request's next unit of
            # work (or ends at the end of the request) instead of a ROLLBACK round trip now
            self._jobs, self._outboxed = [], []
            self._close_after(keep=True)
            return
        super().__exit__(exc_type, exc, tb)

    def _carries(self) -> bool:
        return (
            self._shared is not None
            and self._db is not None
            and self._db.read_only
            and self._connection is not None
            and not self._connection.invalidated
        )

    def _close(self) -> None:
        # a committed unit of work that sent nothing after its COMMIT leaves no transaction open:
        # the next one may take the connection; otherwise it is rolled back and given back
        connection = self._connection
        self._close_after(
            keep=self._committed
            and connection is not None
            and not connection.invalidated
            and not connection.in_transaction()
        )

    def _close_after(self, *, keep: bool) -> None:
        connection, self._connection, self._db = self._connection, None, None
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.give_back(keep=keep)
        elif connection is not None:
            connection.close()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, queue: JobQueue | None = None) -> None:
        self.engine = engine
        self.queue = queue

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """The units of work opened in this scope (one HTTP request, in this thread) share one
        connection: see RequestConnection. A no-op on SQLite."""
        if self.engine.dialect.name not in ("mysql", "mariadb"):
            yield
            return
        shared = RequestConnection(self.engine)
        token = _REQUEST_CONNECTION.set(shared)
        try:
            yield
        finally:
            _REQUEST_CONNECTION.reset(token)
            shared.release()

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.queue)
