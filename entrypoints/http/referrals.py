"""Referrals (issue 24): the caller's code and figures; an admin's view of a user's referral abuse signals."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask.views import MethodView

from entrypoints.http.api import USER_AUTH, Blueprint
from entrypoints.http.auth import current_principal, require_admin
from entrypoints.http.context import container
from entrypoints.http.platform24_schemas import ReferralSignalsSchema, ReferralSummarySchema

blp = Blueprint("referrals", __name__, description="Referral codes and bonuses")


@blp.route("/v1/referrals")
class MyReferrals(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, ReferralSummarySchema)
    @blp.errors(401)
    def get(self) -> Any:
        """The caller's referral code and link, how many signed up with it, bonuses pending (in their hold) and earned"""
        return container().platform24.referrals.summary(current_principal().user_id)


@blp.route("/v1/admin/users/<string:user_id>/referrals")
class UserReferralSignals(MethodView):
    @blp.doc(security=USER_AUTH)
    @blp.response(200, ReferralSignalsSchema)
    @blp.errors(401, 403, 404, what="user")
    def get(self, user_id: str) -> Any:
        """A user's referrals with the abuse signals: refusals by reason, voided bonuses (admins only; newest 200)"""
        require_admin()
        container().identity.get_user(user_id)  # an unknown user (or an id in another case) is 404
        found = container().platform24.referrals.of_referrer(user_id)
        refused = Counter(r.reason or "" for r in found if r.status.value == "ineligible")
        return {
            "user_id": user_id,
            "referred_count": len(found),
            "by_status": dict(Counter(r.status.value for r in found)),
            "refused_by_reason": dict(refused),
            "voided": sum(1 for r in found if r.status.value == "voided"),
            "referrals": found,
        }
