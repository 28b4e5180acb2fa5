"""One connection per HTTP request on MariaDB (issue 25): authentication joins the use case's transaction.

Before, authentication read the token's user in a unit of work of its own: a pool checkout, the
read, and a ROLLBACK before the use case checked out another connection. Now the units of work of
a request share one connection, and a unit of work that only read leaves its transaction to the
next one. What must not change: revocation counts from the next request, a unit of work that
wrote and did not commit still rolls back, and a unit of work opened inside another gets a
connection of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql.connections
import pytest
from flask import Flask
from sqlalchemy import event, literal, select, text
from sqlalchemy.engine import Engine

from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.identity.model import Role
from tests.fixtures.apps import sql_app
from tests.fixtures.http import api_key_headers, auth_headers, create_api_key, logout, me, register

pytestmark = pytest.mark.mysql


@contextmanager
def sent(engine: Engine) -> Iterator[dict[str, Any]]:
    """The statements pymysql sends (COMMIT and ROLLBACK included) and the pool's checkouts."""
    seen: dict[str, Any] = {"statements": [], "checkouts": 0}
    original = pymysql.connections.Connection._execute_command

    def counted(self: Any, command: int, sql: Any) -> Any:
        seen["statements"].append(sql.decode() if isinstance(sql, bytes) else str(sql))
        return original(self, command, sql)

    def checkout(*_: Any) -> None:
        seen["checkouts"] += 1

    pymysql.connections.Connection._execute_command = counted  # type: ignore[method-assign]
    event.listen(engine, "checkout", checkout)
    try:
        yield seen
    finally:
        pymysql.connections.Connection._execute_command = original  # type: ignore[method-assign]
        event.remove(engine, "checkout", checkout)


def first_words(statements: list[str]) -> list[str]:
    return [s.split()[0].upper() for s in statements]


@pytest.fixture
def app(mysql_engine: Engine) -> Flask:
    return sql_app(mysql_engine)


def test_a_charge_is_one_checkout_and_no_rollback(app: Flask, mysql_engine: Engine) -> None:
    client = app.test_client()
    headers = auth_headers(register(client)["access_token"])
    with sent(mysql_engine) as seen:
        response = client.post(
            "/v1/credits/charges",
            json={"feature_key": "api.call"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
    assert response.status_code == 201, response.get_json()
    words = first_words(seen["statements"])
    assert seen["checkouts"] == 1
    assert "ROLLBACK" not in words, seen["statements"]  # before: the authentication's own ROLLBACK
    assert words == ["SELECT", "SELECT", "INSERT"], seen["statements"]  # the user, the lock, the writes
    # the user's read ends its own transaction (adapters/sql/db.py, Db._run); the lock read opens the
    # charge's, whose COMMIT leaves with the writes, as the last statement of the last packet
    ends = [s.rstrip().rsplit(None, 1)[-1].upper() for s in seen["statements"]]
    assert ends == ["COMMIT", "UPDATE", "COMMIT"], seen["statements"]  # UPDATE: the lock's FOR UPDATE


def test_a_read_is_one_checkout_and_two_packets_that_leave_nothing_open(app: Flask, mysql_engine: Engine) -> None:
    """Before: the user, the account, then a ROLLBACK at the request's end (3 round trips, as the
    bare endpoint's read and COMMIT are 2). Each read now carries its own COMMIT."""
    client = app.test_client()
    headers = auth_headers(register(client)["access_token"])
    with sent(mysql_engine) as seen:
        assert client.get("/v1/credits/balance", headers=headers).status_code == 200
    words = first_words(seen["statements"])
    assert seen["checkouts"] == 1
    assert words == ["SELECT", "SELECT"], seen["statements"]
    assert all(s.rstrip().endswith("COMMIT") for s in seen["statements"]), seen["statements"]
    assert app.extensions["houston"].uow.engine.pool.checkedout() == 0  # given back at the request's end


def test_revocation_and_demotion_count_from_the_next_request(app: Flask, mysql_engine: Engine) -> None:
    client = app.test_client()
    signed_in = register(client)
    headers = auth_headers(signed_in["access_token"])
    key = create_api_key(client, signed_in["access_token"])
    assert me(client, headers)["id"] == signed_in["user"]["id"]
    assert me(client, api_key_headers(key["key"]))["id"] == signed_in["user"]["id"]
    with mysql_engine.begin() as connection:  # a demotion by hand: the next request sees the stored role
        connection.execute(
            text("UPDATE users SET role = :r WHERE id = :id"), {"r": Role.ADMIN.value, "id": signed_in["user"]["id"]}
        )
    assert client.get("/v1/admin/users", headers=headers).status_code == 200
    with mysql_engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET role = :r WHERE id = :id"), {"r": Role.USER.value, "id": signed_in["user"]["id"]}
        )
    assert client.get("/v1/admin/users", headers=headers).status_code == 403
    client.delete(f"/v1/api-keys/{key['id']}", headers=headers)
    assert me(client, api_key_headers(key["key"]), expect=401)["error"]["code"] == "unauthenticated"
    logout(client, signed_in["refresh_token"])
    assert me(client, headers, expect=401)["error"]["code"] == "token_revoked"
    assert app.extensions["houston"].uow.engine.pool.checkedout() == 0


def test_in_a_request_scope_a_write_not_committed_still_rolls_back(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    name = f"scope-{uuid.uuid4().hex[:12]}"
    with factory.request_scope():
        with factory() as uow:
            uow.users._db.execute(select(literal(1)))  # a read: its transaction may be carried
            first = uow.users._db.connection
        with factory() as uow:
            assert uow.users._db.connection is first  # the same connection, the read's transaction
            uow.users._db.execute(
                text(
                    "INSERT INTO ledger_accounts (id, balance, held, last_seq, created_at) "
                    "VALUES (:id, 0, 0, 0, UTC_TIMESTAMP(6))"
                ),
                {"id": name},
            )
            # leaves without commit: a write, so it rolls back now and gives the connection back
        with factory() as uow:
            assert uow.users._db.connection is not first
            found = uow.users._db.execute(text("SELECT id FROM ledger_accounts WHERE id = :id"), {"id": name})
            assert found.first() is None
    with mysql_engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM ledger_accounts WHERE id = :id"), {"id": name}).first() is None


def test_a_unit_of_work_inside_another_takes_its_own_connection(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    with factory.request_scope():
        with factory() as outer:
            with factory() as inner:
                assert inner.users._db.connection is not outer.users._db.connection


def test_a_failed_unit_of_work_gives_the_connection_back(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    with factory.request_scope():
        with pytest.raises(RuntimeError):
            with factory() as uow:
                uow.users._db.execute(select(literal(1)))
                first = uow.users._db.connection
                raise RuntimeError("the use case failed")
        with factory() as uow:
            assert uow.users._db.connection is not first


def test_a_write_after_the_commit_is_not_carried_into_the_next_unit_of_work(mysql_engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(mysql_engine)
    name = f"late-{uuid.uuid4().hex[:12]}"
    with factory.request_scope():
        with factory() as uow:
            uow.users._db.execute(select(literal(1)))
            uow.commit()
            uow.users._db.execute(
                text(
                    "INSERT INTO ledger_accounts (id, balance, held, last_seq, created_at) "
                    "VALUES (:id, 0, 0, 0, UTC_TIMESTAMP(6))"
                ),
                {"id": name},
            )
        with factory() as uow:
            uow.users._db.execute(select(literal(1)))
            uow.commit()  # must not commit the write the unit of work before left uncommitted
    with mysql_engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM ledger_accounts WHERE id = :id"), {"id": name}).first() is None
