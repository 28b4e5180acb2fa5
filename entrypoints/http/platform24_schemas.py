"""Schemas of issue 24's routes: referrals, the GDPR export and erasure, the owner's sales figures."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow.validate import Length, OneOf, Range

from domain.identity.model import PASSWORD_MAX_LENGTH
from domain.platform.sales import INTERVALS
from entrypoints.http.schemas import UtcDateTime


class ReferralSummarySchema(ma.Schema):
    code = ma.fields.String(required=True)
    link = ma.fields.String(required=True)
    referred_count = ma.fields.Integer(required=True)
    pending_credits = ma.fields.Integer(required=True, metadata={"description": "Bonuses in their hold period."})
    credits_earned = ma.fields.Integer(required=True)


class ReferralSchema(ma.Schema):
    id = ma.fields.String(required=True)
    referee_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    reason = ma.fields.String(allow_none=True, metadata={"description": "Why it earns nothing (an abuse signal)."})
    bonus = ma.fields.Integer(required=True)
    release_after = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)


class ReferralSignalsSchema(ma.Schema):
    user_id = ma.fields.String(required=True)
    referred_count = ma.fields.Integer(required=True)
    by_status = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    refused_by_reason = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={"description": "same_email, disposable_email, same_customer, monthly_cap..."},
    )
    voided = ma.fields.Integer(
        required=True, metadata={"description": "First purchases refunded or disputed in the hold."}
    )
    referrals = ma.fields.List(ma.fields.Nested(ReferralSchema), required=True)


class EraseAccountSchema(ma.Schema):
    password = ma.fields.String(required=True, validate=Length(min=1, max=PASSWORD_MAX_LENGTH))


class ExportSchema(ma.Schema):
    """Every section of the caller's data; see the README's GDPR section for the list."""

    class Meta:
        unknown = ma.INCLUDE

    format = ma.fields.String(required=True)
    exported_at = ma.fields.String(required=True)
    user_id = ma.fields.String(required=True)


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 1, 1)


class MetricsArgsSchema(ma.Schema):
    from_ = ma.fields.Date(
        data_key="from",
        load_default=None,
        validate=Range(min=EARLIEST, max=LATEST),
        metadata={"description": "First UTC day (YYYY-MM-DD)."},
    )
    to = ma.fields.Date(
        load_default=None,
        validate=Range(min=EARLIEST, max=LATEST),
        metadata={"description": "UTC day after the last one (excluded)."},
    )
    interval = ma.fields.String(load_default="day", validate=OneOf(INTERVALS))


_COUNTS = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)


class FiguresSchema(ma.Schema):
    cash_in_cents = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={"description": "Payments minus refunds, by currency."},
    )
    refunds_cents = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    mrr_cents = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    credits_sold = ma.fields.Integer(required=True)
    credits_granted_free = ma.fields.Integer(required=True)
    credits_consumed_paid = ma.fields.Integer(required=True)
    credits_consumed_free = ma.fields.Integer(required=True)
    credits_expired_paid = ma.fields.Integer(required=True, metadata={"description": "Breakage."})
    paid_credit_liability = ma.fields.Integer(required=True, metadata={"description": "At the period's end."})
    new_users = ma.fields.Integer(required=True)
    paying_users = ma.fields.Integer(required=True)
    subscriptions_by_plan = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    new_subscriptions_by_plan = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)


class PointSchema(FiguresSchema):
    start = UtcDateTime(required=True)


class MetricsSchema(ma.Schema):
    from_ = UtcDateTime(data_key="from", required=True)
    to = UtcDateTime(required=True)
    interval = ma.fields.String(required=True)
    totals = ma.fields.Nested(FiguresSchema, required=True)
    series = ma.fields.List(ma.fields.Nested(PointSchema), required=True)
