"""Credits: balance, transactions, usage, prices, metered charges, and admin adjustments."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView

from domain.ledger.results import Movement
from domain.shared.audit import AuditAction
from domain.shared.idempotency import scoped_key
from entrypoints.http.api import IDEMPOTENCY_CONFLICT, USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal, require_admin
from entrypoints.http.context import container
from entrypoints.http.ledger_schemas import (
    AdjustmentSchema,
    BalanceViewSchema,
    ChargeSchema,
    MovementSchema,
    PriceSchema,
    TransactionArgsSchema,
    TransactionPageSchema,
    UsageArgsSchema,
    UsageSchema,
)
from entrypoints.http.schemas import IdempotencyKeyHeaderSchema

blp = Blueprint("credits", __name__, url_prefix="/v1", description="Credits: the prepaid ledger")


def _movement(result: Movement) -> dict[str, Any]:
    return {"transaction": result.entry, "balance": result.balance}


@blp.route("/credits/balance")
class Balance(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, BalanceViewSchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The caller's balance, what is held, what is available, and the open grants"""
        return container().ledger.balance(current_principal().user_id)


@blp.route("/credits/transactions")
class Transactions(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(TransactionArgsSchema, location="query")
    @blp.response(200, TransactionPageSchema)
    @blp.errors(401, 422, say={422: "A bad limit, cursor or kind (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's ledger entries, newest first (keyset pages)"""
        return container().ledger.transactions(current_principal().user_id, **args)


@blp.route("/credits/usage")
class Usage(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(UsageArgsSchema, location="query")
    @blp.response(200, UsageSchema)
    @blp.errors(401, 422, say={422: "month is not YYYY-MM (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """Credits spent in one month (default: this month, UTC), by feature"""
        c = container()
        month = args["month"] or c.clock.now().strftime("%Y-%m")
        return c.ledger.usage(current_principal().user_id, month)


@blp.route("/credits/prices")
class Prices(MethodView):
    @blp.response(200, blp.map_of(PriceSchema), description="Each feature key with its price")
    def get(self) -> Response:
        """What each metered feature costs, in credits per unit (public)"""
        prices = container().ledger.prices.prices
        return jsonify({key: PriceSchema().dump(price) for key, price in prices.items()})


@blp.route("/credits/charges")
class Charges(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(IdempotencyKeyHeaderSchema, location="headers")
    @blp.arguments(ChargeSchema)
    @blp.response(201, MovementSchema)
    @blp.errors(
        401,
        402,
        409,
        422,
        say={
            409: IDEMPOTENCY_CONFLICT,
            422: "A bad body, an unknown feature_key, or a missing or bad Idempotency-Key (validation_error)",
        },
    )
    def post(self, headers: dict[str, str], body: dict[str, Any]) -> Any:
        """Charge the caller for a metered feature (server-to-server metering; Idempotency-Key required)"""
        result = container().ledger.charge(
            current_principal().user_id, idempotency_key=scoped_key("http", headers["idempotency_key"]), **body
        )
        return _movement(result)


@blp.route("/admin/users/<string:user_id>/credits")
class AdminCredits(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(IdempotencyKeyHeaderSchema, location="headers")
    @blp.arguments(AdjustmentSchema)
    @blp.response(201, MovementSchema)
    @blp.errors(
        401,
        402,
        403,
        404,
        409,
        422,
        what="user",
        say={
            402: "A removal larger than the available balance; nothing was removed (insufficient_credits)",
            409: IDEMPOTENCY_CONFLICT,
            422: "A bad body, or a missing or bad Idempotency-Key (validation_error)",
        },
    )
    def post(self, headers: dict[str, str], body: dict[str, Any], user_id: str) -> Any:
        """Add (positive) or remove (negative) credits for a user, with a reason (admins only)"""
        admin = require_admin()
        c = container()
        details = {"amount": body["amount"], "reason": body["reason"]}
        audit = c.operations.new_audit(admin.user_id, AuditAction.CREDITS_ADJUSTED, "user", user_id, details)
        result = c.ledger.adjust(
            user_id,
            actor=admin.user_id,
            idempotency_key=scoped_key("admin", headers["idempotency_key"]),
            audit=audit,
            **body,
        )
        return _movement(result)
