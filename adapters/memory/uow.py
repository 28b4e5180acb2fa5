"""The in-memory unit of work: serialised like SQLite's BEGIN IMMEDIATE, rolled back from a snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.memory.billing import InMemoryBillingRepository
from adapters.memory.coaching import InMemoryCoachingRepository
from adapters.memory.identity import InMemoryApiKeyRepository, InMemoryRefreshTokenRepository, InMemoryUserRepository
from adapters.memory.ledger import InMemoryLedgerRepository
from adapters.memory.outbox import InMemoryOutboxRepository
from adapters.memory.platform import InMemoryAuditRepository, InMemoryLoginRepository, InMemoryUserDirectory
from adapters.memory.referrals import InMemoryReferralRepository
from adapters.memory.store import MemoryStore
from adapters.memory.teams import InMemoryBudgetRepository, InMemoryTeamsRepository
from adapters.memory.webhooks import InMemoryNotificationRepository, InMemoryWebhookRepository
from domain.shared.jobs import JobQueue
from domain.shared.uow import UnitOfWorkBase


class MemoryUnitOfWork(UnitOfWorkBase):
    users: InMemoryUserRepository
    refresh_tokens: InMemoryRefreshTokenRepository
    api_keys: InMemoryApiKeyRepository
    ledger: InMemoryLedgerRepository
    logins: InMemoryLoginRepository
    audit: InMemoryAuditRepository
    directory: InMemoryUserDirectory
    billing: InMemoryBillingRepository
    coaching: InMemoryCoachingRepository
    outbox: InMemoryOutboxRepository
    webhooks: InMemoryWebhookRepository
    notifications: InMemoryNotificationRepository
    referrals: InMemoryReferralRepository
    teams: InMemoryTeamsRepository
    budgets: InMemoryBudgetRepository

    def __init__(self, store: MemoryStore, queue: JobQueue | None = None) -> None:
        super().__init__(queue)
        self._store = store
        self.users = InMemoryUserRepository(store)
        self.refresh_tokens = InMemoryRefreshTokenRepository(store)
        self.api_keys = InMemoryApiKeyRepository(store)
        self.ledger = InMemoryLedgerRepository(store)
        self.logins = InMemoryLoginRepository(store)
        self.audit = InMemoryAuditRepository(store)
        self.directory = InMemoryUserDirectory(store)
        self.billing = InMemoryBillingRepository(store)
        self.coaching = InMemoryCoachingRepository(store)
        self.outbox, self.webhooks, self.notifications = (
            InMemoryOutboxRepository(store),
            InMemoryWebhookRepository(store),
            InMemoryNotificationRepository(store),
        )
        self.referrals = InMemoryReferralRepository(store)
        self.teams, self.budgets = InMemoryTeamsRepository(store), InMemoryBudgetRepository(store)

    def _begin(self) -> None:
        self._store.lock.acquire()
        self._store.begin()

    def _commit(self) -> None:
        self._store.keep()  # later writes in this unit roll back to here

    def _mark_sent(self, ids: list[str]) -> None:  # issue 22: the store's lock is still held
        self.outbox.mark_sent(ids, datetime.now(UTC))
        self._store.keep()

    def _rollback(self) -> None:
        self._store.undo()

    def _close(self) -> None:
        self._store.end()
        self._store.lock.release()


class MemoryUnitOfWorkFactory:
    def __init__(self, store: MemoryStore | None = None, queue: JobQueue | None = None) -> None:
        self.store = store or MemoryStore()
        self.queue = queue

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store, self.queue)
