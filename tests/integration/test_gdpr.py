"""GDPR (issue 24): the schema inventory, and erasure proven by a marker scan, on SQLite and MariaDB.

The marker scan is driven by the schema itself: for every table of the migrated database it plants
one row tied to the user (foreign keys to the user or to the user's planted rows, user-id columns
set to the user) with a marker in every column the inventory calls `erase`, erases the account,
then scans every string column of every table for the marker. A column added without an erase
statement fails here; a column added without a classification fails the inventory test."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Date, DateTime, Integer, MetaData, String, Text, inspect, select, text
from sqlalchemy.sql.sqltypes import BigInteger, Numeric

from adapters.sql.personal_data import ERASE, INVENTORY, PSEUDO, SECRET, inventory_gaps
from adapters.sql.tables import metadata
from adapters.sql.uow import SqlUnitOfWorkFactory
from adapters.stripe.fake import FakePaymentGateway
from domain.identity.errors import InvalidCredentials
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container, bootstrap
from tests.fixtures.backends import backend_params, own_mariadb_engine, sqlite_engine
from tests.fixtures.settings import T0, make_settings, unique

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def _mariadb() -> Iterator[Any]:
    made = own_mariadb_engine("gdpr")  # the planted rows (one per table) must never reach other tests' sweeps
    yield made
    made.dispose()


@pytest.fixture(params=backend_params("sqlite", "mariadb"))
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        made = sqlite_engine(tmp_path / "gdpr.db")
        request.addfinalizer(made.dispose)
        return made
    return request.getfixturevalue("_mariadb")


class RecordingGateway(FakePaymentGateway):
    def __init__(self) -> None:
        super().__init__()
        self.cancelled_now: list[str] = []

    def cancel_subscription_now(self, subscription_id: str) -> None:
        self.cancelled_now.append(subscription_id)
        super().cancel_subscription_now(subscription_id)


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


@pytest.fixture
def container(engine: Any, gateway: RecordingGateway) -> Container:
    return bootstrap(make_settings(), clock=ManualClock(T0), uow=SqlUnitOfWorkFactory(engine), gateway=gateway)


# --- the inventory ------------------------------------------------------------------------------
def test_every_column_of_the_schema_is_classified() -> None:
    assert inventory_gaps(metadata.tables) == []


def test_every_table_of_the_migrated_database_is_classified(engine: Any) -> None:
    tables = inspect(engine).get_table_names()
    assert sorted(set(tables) - set(INVENTORY)) == []
    for table in tables:
        columns = {c["name"] for c in inspect(engine).get_columns(table)}
        assert sorted(columns - set(INVENTORY[table])) == [], table


def test_a_new_unclassified_column_fails_the_inventory() -> None:
    copy = MetaData()
    users = metadata.tables["users"].to_metadata(copy)
    users.append_column(Column("phone", String(32)))
    assert inventory_gaps(copy.tables) == ["users.phone"]


def test_classifications_are_known_words_and_secrets_are_erased() -> None:
    assert {c for columns in INVENTORY.values() for c in columns.values()} <= {"erase", "pseudonymise", "keep"}
    assert all(INVENTORY[t][c] == ERASE for t, c in SECRET)


# --- planting ----------------------------------------------------------------------------------
def _filler(column: Any, run: str, marker: str) -> Any:
    kind = column.type
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, (Integer, BigInteger, Numeric)):
        return 10**6 + secrets.randbelow(10**6) if column.name == "seq" else 1
    if isinstance(kind, Date):
        return date(2026, 1, 1 + secrets.randbelow(28))
    if isinstance(kind, DateTime) or "DateTime" in type(kind).__name__:
        return datetime(2026, 1, 15, tzinfo=UTC)
    if column.name == "currency":
        return "usd"
    length = getattr(kind, "length", None) or 200
    return f"{column.table.name[:10]}.{column.name[:10]}.{run}"[:length]


def plant(engine: Any, user_id: str, marker: str) -> dict[str, dict[str, Any]]:
    """One row per table tied to the user, with `marker` in every erase column; returns them."""
    run = secrets.token_hex(4)
    planted: dict[str, dict[str, Any]] = {}
    with engine.begin() as connection:
        # webhook messages and attempts name their endpoint without a foreign key: plant it first
        ordered = sorted(
            metadata.sorted_tables, key=lambda table: table.name in ("webhook_messages", "webhook_attempts")
        )
        for table in ordered:
            classes = INVENTORY[table.name]
            if table.name in ("users", "ledger_accounts"):  # the registered user's own rows exist
                planted[table.name] = {"id": user_id}
                continue
            row: dict[str, Any] = {}
            for column in table.columns:
                parents = [fk.column.table.name for fk in column.foreign_keys]
                if parents:
                    parent = parents[0]
                    row[column.name] = (
                        user_id
                        if parent in ("users", "ledger_accounts")
                        else planted[parent][next(iter(fk.column.name for fk in column.foreign_keys))]
                    )
                elif classes[column.name] == PSEUDO:
                    row[column.name] = user_id
                elif classes[column.name] == ERASE:
                    length = getattr(column.type, "length", None) or 200
                    row[column.name] = (marker + f"-{column.name}")[:length]
                else:
                    row[column.name] = _filler(column, run, marker)
            if table.name == "billing_events":  # the provider's copy names our user, as Stripe's does
                row["payload"] = json.dumps({"client_reference_id": user_id, "customer_details": {"name": marker}})
            if table.name == "outbox":  # a queued job names the user, as a notification email job does
                row["job"] = json.dumps({"user_id": user_id, "note": marker})
            if "endpoint_id" in row and "webhook_endpoints" in planted:  # no foreign key: linked by hand
                row["endpoint_id"] = planted["webhook_endpoints"]["id"]
            if table.name == "audit_log":
                row["details"] = json.dumps({"note": marker})
            if table.name == "billing_subscriptions":
                row["status"] = "active"
            connection.execute(table.insert().values(row))
            planted[table.name] = row
        connection.execute(
            metadata.tables["users"]
            .update()
            .where(metadata.tables["users"].c.id == user_id)
            .values(name=f"{marker}-name")
        )
    return planted


def scan(engine: Any, marker: str) -> list[str]:
    """Every table.column of the database (reflected: other branches' tables too) holding `marker`."""
    found = []
    reflected = MetaData()
    reflected.reflect(engine)
    with engine.connect() as connection:
        for table in reflected.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, Text)) and "TEXT" not in str(column.type).upper():
                    continue
                hits = connection.execute(select(column).where(column.contains(marker, autoescape=True))).first()
                if hits is not None:
                    found.append(f"{table.name}.{column.name}")
    return found


@pytest.fixture
def marked(container: Container, engine: Any) -> Iterator[tuple[str, str, str, dict[str, dict[str, Any]]]]:
    marker = "mk" + secrets.token_hex(5)  # lower case: emails are stored lower-cased
    email = f"{marker}-{unique('e')}@example.com".lower()
    user = container.identity.register(email, PASSWORD, name=f"{marker} Name").user.id
    planted = plant(engine, user, marker)
    yield user, email, marker, planted


def test_the_marker_is_everywhere_before_the_erasure(engine: Any, marked: Any) -> None:
    """The scan can fail: before erasure it finds the marker in every erase column."""
    _, _, marker, _ = marked
    expected = {
        f"{t}.{c}"
        for t, columns in INVENTORY.items()
        for c, kind in columns.items()
        if kind == ERASE and t in metadata.tables
    }
    expected.remove("users.password_hash")  # a bcrypt hash (erasure must verify it): checked after erasure
    assert expected - set(scan(engine, marker)) == set()


def test_erasure_leaves_no_marker_in_any_table_and_keeps_the_books(
    container: Container, engine: Any, marked: Any, gateway: RecordingGateway
) -> None:
    user, email, marker, planted = marked
    with engine.connect() as connection:
        entries_before = connection.execute(
            text("SELECT COUNT(*) FROM ledger_entries WHERE account_id = :u"), {"u": user}
        ).scalar()
    with pytest.raises(InvalidCredentials):
        container.platform24.gdpr.erase(user, "wrong password")
    assert scan(engine, marker) != []  # nothing happened

    container.platform24.gdpr.erase(user, PASSWORD)

    assert scan(engine, marker) == []
    with engine.connect() as connection:
        kept = connection.execute(
            text("SELECT user_id, amount_cents FROM billing_payments WHERE id = :p"),
            {"p": planted["billing_payments"]["id"]},
        ).first()
        entries_after = connection.execute(
            text("SELECT COUNT(*) FROM ledger_entries WHERE account_id = :u"), {"u": user}
        ).scalar()
        tombstone = connection.execute(
            text("SELECT email, name, password_hash FROM users WHERE id = :u"), {"u": user}
        ).first()
    assert kept is not None and kept[0] == user  # the payment stays, under the pseudonymous id
    assert entries_after == entries_before  # the ledger is untouched
    assert tombstone is not None and tombstone[0].endswith("@erased.invalid") and tombstone[1] is None
    assert not tombstone[2].startswith("$2")  # no bcrypt hash: no password opens it
    assert planted["billing_customers"]["customer_id"] in gateway.deleted_customers
    assert planted["billing_subscriptions"]["provider_id"] in gateway.cancelled_now
    # the audit says it happened, with counts only
    with container.uow() as uow:
        records = uow.audit.search(actor=None, action="account.erased", subject=user, limit=5)
    assert len(records) == 1 and all(isinstance(v, int) for v in records[0].details.values())
    # the address can register again, as a new person
    again = container.identity.register(email, PASSWORD).user.id
    assert again != user


def test_the_export_has_every_section_and_no_secret(container: Container, marked: Any) -> None:
    user, email, marker, planted = marked
    document = container.platform24.gdpr.export(user)
    assert document["profile"]["email"] == email and "password_hash" not in document["profile"]
    assert {
        "logins",
        "api_keys",
        "sessions",
        "ledger",
        "payments",
        "subscription",
        "workspaces",
        "tasks",
        "referrals",
        "audit",
    } <= set(document)
    workspace = document["workspaces"][0]
    assert workspace["goals"] and workspace["todos"] and workspace["chat_sessions"][0]["messages"]
    assert document["api_keys"][0]["name"].startswith(marker) and "key_hash" not in document["api_keys"][0]
    assert "token_hash" not in document["sessions"][0]
    assert "checkout_url" not in document["payments"][0]
    assert document["ledger"]["entries"]  # the free allowance at least
    json.dumps(document)  # plain JSON all the way down
