"""The bare baseline of `make bench`: Flask + SQLAlchemy Core on the project's own engine settings
(adapters.sql.engine.make_engine), no auth, no ledger. Served by the same gunicorn as the project.

POST /charge   UPDATE bare_accounts SET balance = balance - 1 WHERE id = ? AND balance >= 1;
               INSERT INTO bare_entries ...; COMMIT   (402 when the UPDATE matched no row)
GET  /balance  SELECT id, balance FROM bare_accounts WHERE id = ?

The account is the `X-Account` header. BARE_DATABASE_URL names the database.
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, jsonify, request
from sqlalchemy import BigInteger, Column, MetaData, String, Table, text

from adapters.sql.engine import make_engine

metadata = MetaData()
bare_accounts = Table(
    "bare_accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_nopad_bin",
)
bare_entries = Table(
    "bare_entries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_nopad_bin",
)

DEBIT = text("UPDATE bare_accounts SET balance = balance - 1 WHERE id = :id AND balance >= 1")
ENTRY = text("INSERT INTO bare_entries (id, account_id, amount, idempotency_key) VALUES (:id, :a, -1, :k)")
READ = text("SELECT id, balance FROM bare_accounts WHERE id = :id")


def create_app(url: str) -> Flask:
    engine = make_engine(url)
    app = Flask("bare")

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify({"status": "ok"})

    @app.post("/charge")
    def charge():  # type: ignore[no-untyped-def]
        account = request.headers.get("X-Account", "")
        key = request.headers.get("Idempotency-Key", "")
        with engine.connect() as connection:
            if connection.execute(DEBIT, {"id": account}).rowcount != 1:
                connection.rollback()
                return jsonify({"error": "insufficient"}), 402
            connection.execute(ENTRY, {"id": uuid.uuid4().hex, "a": account, "k": key})
            connection.commit()
        return jsonify({"ok": True}), 201

    @app.get("/balance")
    def balance():  # type: ignore[no-untyped-def]
        with engine.connect() as connection:
            row = connection.execute(READ, {"id": request.headers.get("X-Account", "")}).first()
            connection.commit()
        if row is None:
            return jsonify({"error": "not found"}), 404
        return jsonify({"id": row.id, "balance": row.balance})

    return app


def seed(url: str, accounts: list[str], funds: int) -> None:
    engine = make_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(bare_accounts.insert(), [{"id": a, "balance": funds} for a in accounts])
    engine.dispose()


app = create_app(os.environ["BARE_DATABASE_URL"]) if os.environ.get("BARE_DATABASE_URL") else None
