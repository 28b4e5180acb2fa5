"""Credits: balance, transactions, usage, prices, metered charges, and admin adjustments."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, jsonify
from flask.views import MethodView

from domain.ledger.model import EntryKind
from domain.ledger.results import Movement
from domain.ledger.services import (
    MAX_CREDITS,
    MAX_KEY_LENGTH,
    MAX_QUANTITY,
    MAX_REFERENCE_LENGTH,
    scoped_key,
)
from domain.shared.audit import AuditAction
from entrypoints.http.api import UNAUTHENTICATED, USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal, require_admin
from entrypoints.http.context import container
from entrypoints.http.schemas import PageArgsSchema, UtcDateTime, page_schema

blp = Blueprint("credits", __name__, url_prefix="/v1", description="Credits: the prepaid ledger")

PRINTABLE_ASCII = r"^[\x21-\x7e][\x20-\x7e]{0,%d}$" % (MAX_KEY_LENGTH - 1)


class IdempotencyHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        required=True,
        validate=[ma.validate.Length(min=1, max=MAX_KEY_LENGTH), ma.validate.Regexp(PRINTABLE_ASCII)],
    )


class GrantSchema(ma.Schema):
    id = ma.fields.String(required=True)
    source = ma.fields.Function(lambda g: g.source.value, required=True)
    remaining = ma.fields.Integer(required=True)
    expires_at = UtcDateTime(allow_none=True, required=True)


class BalanceSchema(ma.Schema):
    balance = ma.fields.Integer(required=True)
    held = ma.fields.Integer(required=True)
    available = ma.fields.Integer(required=True)


class BalanceViewSchema(BalanceSchema):
    grants = ma.fields.List(ma.fields.Nested(GrantSchema), required=True)


class TransactionSchema(ma.Schema):
    id = ma.fields.String(required=True)
    kind = ma.fields.Function(lambda e: e.kind.value, required=True)
    amount = ma.fields.Integer(required=True)
    balance_after = ma.fields.Integer(required=True)
    feature_key = ma.fields.String(allow_none=True, required=True)
    reference = ma.fields.String(allow_none=True, required=True)
    created_at = UtcDateTime(required=True)


TransactionPageSchema = page_schema(TransactionSchema, "TransactionPage")


class TransactionArgsSchema(PageArgsSchema):
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf([k.value for k in EntryKind]))


class UsageArgsSchema(ma.Schema):
    # Years 2000-2999 only: the ledger cannot bound year 0 or 9999-12 (see the report on _month_bounds).
    month = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^2\d{3}-(0[1-9]|1[0-2])$"),
        metadata={"description": "YYYY-MM (years 2000-2999); default: this month, UTC"},
    )


class UsageSchema(ma.Schema):
    month = ma.fields.String(required=True)
    total = ma.fields.Integer(required=True)
    by_feature = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)


class PriceSchema(ma.Schema):
    credits = ma.fields.Integer(required=True)
    unit = ma.fields.String(required=True)


class ChargeSchema(ma.Schema):
    feature_key = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    quantity = ma.fields.Integer(strict=True, load_default=1, validate=ma.validate.Range(min=1, max=MAX_QUANTITY))
    reference = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=MAX_REFERENCE_LENGTH))


class AdjustmentSchema(ma.Schema):
    amount = ma.fields.Integer(
        strict=True,
        required=True,
        validate=[ma.validate.Range(min=-MAX_CREDITS, max=MAX_CREDITS), ma.validate.NoneOf([0])],
        metadata={"not": {"enum": [0]}, "description": "Positive adds credits, negative removes them; never 0"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class MovementSchema(ma.Schema):
    transaction = ma.fields.Nested(TransactionSchema, required=True, allow_none=True)
    balance = ma.fields.Nested(BalanceSchema, required=True)


def _movement(result: Movement) -> dict[str, Any]:
    return {"transaction": result.entry, "balance": result.balance}


@blp.route("/credits/balance")
class Balance(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, BalanceViewSchema)
    @blp.errors({401: UNAUTHENTICATED})
    def get(self) -> Any:
        """The caller's balance, what is held, what is available, and the open grants"""
        return container().ledger.balance(current_principal().user_id)


@blp.route("/credits/transactions")
class Transactions(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(TransactionArgsSchema, location="query")
    @blp.response(200, TransactionPageSchema)
    @blp.errors({401: UNAUTHENTICATED, 422: "A bad limit, cursor or kind (validation_error)"})
    def get(self, args: dict[str, Any]) -> Any:
        """The caller's ledger entries, newest first (keyset pages)"""
        return container().ledger.transactions(current_principal().user_id, **args)


@blp.route("/credits/usage")
class Usage(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.arguments(UsageArgsSchema, location="query")
    @blp.response(200, UsageSchema)
    @blp.errors({401: UNAUTHENTICATED, 422: "month is not YYYY-MM (validation_error)"})
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
    @blp.arguments(IdempotencyHeaderSchema, location="headers")
    @blp.arguments(ChargeSchema)
    @blp.response(201, MovementSchema)
    @blp.errors(
        {
            401: UNAUTHENTICATED,
            402: "Not enough available credits; nothing was charged (insufficient_credits)",
            409: "The Idempotency-Key was used for a different request (idempotency_conflict)",
            422: "A bad body, an unknown feature_key, or a missing or bad Idempotency-Key (validation_error)",
        }
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
    @blp.arguments(IdempotencyHeaderSchema, location="headers")
    @blp.arguments(AdjustmentSchema)
    @blp.response(201, MovementSchema)
    @blp.errors(
        {
            401: UNAUTHENTICATED,
            402: "A removal larger than the available balance; nothing was removed (insufficient_credits)",
            403: "Admins only (forbidden)",
            404: "No such user (not_found)",
            409: "The Idempotency-Key was used for a different request (idempotency_conflict)",
            422: "A bad body, or a missing or bad Idempotency-Key (validation_error)",
        }
    )
    def post(self, headers: dict[str, str], body: dict[str, Any], user_id: str) -> Any:
        """Add (positive) or remove (negative) credits for a user, with a reason (admins only)"""
        admin = require_admin()
        c = container()
        details = {"amount": body["amount"], "reason": body["reason"]}
        audit = c.operations.new_audit(admin.user_id, AuditAction.CREDITS_ADJUSTED, "user", user_id, details)
        result = c.ledger.adjust(
            user_id, actor=admin.user_id, idempotency_key=scoped_key("admin", headers["idempotency_key"]),
            audit=audit, **body,
        )  # fmt: skip
        return _movement(result)
