"""The SQL unit of work: one connection and one transaction per use case; the only committer."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.sql import Executable

from adapters.sql.coaching import SqlCoachingRepository
from adapters.sql.identity import SqlApiKeyRepository, SqlRefreshTokenRepository, SqlUserRepository
from adapters.sql.ledger import SqlLedgerRepository
from domain.shared.errors import DuplicateRecord, TransientError
from domain.shared.jobs import JobQueue
from domain.shared.uow import UnitOfWorkBase

T = TypeVar("T")

# MySQL/MariaDB error numbers that mean "try the whole transaction again".
_RETRYABLE_MYSQL = {1205, 1213, 2006, 2013}


def translate(error: exc.DBAPIError) -> Exception:
    """Turn a driver error into a domain error, or return it unchanged."""
    if isinstance(error, exc.IntegrityError):
        return DuplicateRecord("The record already exists.")
    orig = error.orig
    code = orig.args[0] if orig is not None and orig.args else None
    if isinstance(code, int) and code in _RETRYABLE_MYSQL:
        return TransientError("The database is busy; try again.")
    if "database is locked" in str(orig):
        return TransientError("The database is busy; try again.")
    return error


class Db:
    """The connection the repositories share, with driver errors translated to domain errors."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        return guarded(lambda: self.connection.execute(statement, params))


def guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except exc.DBAPIError as error:
        translated = translate(error)
        if translated is error:
            raise
        raise translated from error


class SqlUnitOfWork(UnitOfWorkBase):
    users: SqlUserRepository
    refresh_tokens: SqlRefreshTokenRepository
    api_keys: SqlApiKeyRepository
    ledger: SqlLedgerRepository
    coaching: SqlCoachingRepository

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
        self.coaching = SqlCoachingRepository(db)

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
