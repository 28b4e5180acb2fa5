"""The SQL unit of work: one connection and one transaction per use case; the only committer."""
from __future__ import annotations

from sqlalchemy.engine import Connection, Engine

from adapters.sql.billing import SqlBillingRepository
from adapters.sql.db import Db, guarded, translate
from adapters.sql.coaching import SqlCoachingRepository
from adapters.sql.identity import SqlApiKeyRepository, SqlRefreshTokenRepository, SqlUserRepository
from adapters.sql.ledger import SqlLedgerRepository
from adapters.sql.platform import SqlAuditRepository, SqlLoginRepository, SqlUserDirectory
from adapters.sql.personal_data import SqlPersonalData
from adapters.sql.referrals import SqlReferralRepository
from adapters.sql.sales import SqlSalesStore
from domain.shared.jobs import JobQueue
from domain.shared.uow import UnitOfWorkBase

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
    referrals: SqlReferralRepository
    personal_data: SqlPersonalData
    sales: SqlSalesStore

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
        self.referrals = SqlReferralRepository(db)
        self.personal_data = SqlPersonalData(db)
        self.sales = SqlSalesStore(db)

    def _commit(self) -> None:
        assert self._connection is not None
        guarded(self._connection.commit)

    def _rollback(self) -> None:
        if self._connection is not None:
            self._connection.rollback()

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
