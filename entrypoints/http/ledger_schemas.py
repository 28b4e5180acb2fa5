"""Request and response schemas of the credits routes, written by hand against API.md.
Limits come from domain.ledger.services and domain.shared.limits (one number in one place)."""

from __future__ import annotations

import marshmallow as ma

from domain.ledger.model import EntryKind
from domain.ledger.services import MAX_CREDITS, MAX_QUANTITY, MAX_REFERENCE_LENGTH
from domain.shared.limits import ADJUSTMENT_REASON_MAX_LENGTH, FEATURE_KEY_MAX_LENGTH
from entrypoints.http.schemas import PageArgsSchema, UtcDateTime, page_schema


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
    feature_key = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=FEATURE_KEY_MAX_LENGTH))
    quantity = ma.fields.Integer(strict=True, load_default=1, validate=ma.validate.Range(min=1, max=MAX_QUANTITY))
    reference = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=MAX_REFERENCE_LENGTH)
    )


class AdjustmentSchema(ma.Schema):
    amount = ma.fields.Integer(
        strict=True,
        required=True,
        validate=[ma.validate.Range(min=-MAX_CREDITS, max=MAX_CREDITS), ma.validate.NoneOf([0])],
        metadata={"not": {"enum": [0]}, "description": "Positive adds credits, negative removes them; never 0"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=ADJUSTMENT_REASON_MAX_LENGTH))


class MovementSchema(ma.Schema):
    transaction = ma.fields.Nested(TransactionSchema, required=True, allow_none=True)
    balance = ma.fields.Nested(BalanceSchema, required=True)
