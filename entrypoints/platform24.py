"""Issue 24's services, built in one place so the composition root changes by two lines:
referrals (also billing's purchase hooks), GDPR export and erasure, and the sales figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.billing.catalogue import Catalogue
from domain.billing.ports import PaymentGateway
from domain.identity.core import AuthResult
from domain.identity.ports import PasswordHasher
from domain.ledger.ports import CreditGrants
from domain.platform.gdpr import Gdpr
from domain.platform.referrals import ReferralPolicy, Referrals
from domain.platform.sales import SalesFigures
from domain.shared.clock import Clock
from domain.shared.ids import IdGenerator
from entrypoints.config import Settings

if TYPE_CHECKING:
    from entrypoints.container import Container


@dataclass(frozen=True)
class Platform24:
    referrals: Referrals
    gdpr: Gdpr
    sales: SalesFigures


def build_platform24(
    settings: Settings,
    *,
    uow: Any,
    ledger: CreditGrants,
    clock: Clock,
    ids: IdGenerator,
    hasher: PasswordHasher,
    gateway: PaymentGateway,
    catalogue: Catalogue,
) -> Platform24:
    from adapters.email.disposable import PackagedDisposableDomains

    policy = ReferralPolicy(
        bonus=settings.referral_bonus,
        referee_bonus=settings.referral_referee_bonus,
        hold_days=settings.referral_hold_days,
        monthly_cap=settings.referral_monthly_cap,
        link_base=f"{settings.public_base_url}/signup?ref=",
    )
    return Platform24(
        referrals=Referrals(
            uow=uow, ledger=ledger, clock=clock, ids=ids, disposable=PackagedDisposableDomains(), policy=policy
        ),
        gdpr=Gdpr(uow=uow, clock=clock, ids=ids, hasher=hasher, gateway=gateway),
        sales=SalesFigures(uow=uow, clock=clock, catalogue=catalogue),
    )


def register_with_referral(container: Container, body: dict[str, Any]) -> AuthResult:
    """Registration with an optional `referral_code` (an unknown one is ignored); the referral is
    recorded just after (its own transaction: a crash between
    the two leaves a user without a referral, never a referral without a user)."""
    platform = container.platform24
    referrer = platform.referrals.check_code(body.pop("referral_code", None))
    result: AuthResult = container.identity.register(**body)
    platform.referrals.record_signup(result.user, referrer)
    return result
