"""Referrals that cannot be farmed (issue 24), through the real webhooks on memory, SQLite and MariaDB.

The invariant for every path: the referrer's spendable credits grow by the bonus only after the
referee's first paid purchase has stood through the hold with no refund or dispute, once, and
never for a farming attempt; both ledgers stay sound (the ledger's invariant checker)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from domain.ledger.model import PendingStatus
from domain.platform.referrals import ReferralStatus, canonical_email
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.referrals import (
    BONUS,
    HOLD_DAYS,
    REFEREE_BONUS,
    buy,
    earned,
    email,
    referral_of,
    referral_settings,
    signup,
    sound,
    spendable,
)
from tests.fixtures.settings import unique
from tests.fixtures.stripe import Stripe


# --- the bonus: pending, then released after the hold ---------------------------------------
def test_the_bonus_is_pending_after_the_first_purchase_and_released_only_after_the_hold(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    before = spendable(container, referrer)
    assert referral_of(container, referee).status is ReferralStatus.SIGNED_UP
    assert spendable(container, referrer) == before  # nothing at sign-up

    buy(container, stripe, referee)
    referral = referral_of(container, referee)
    assert referral.status is ReferralStatus.PENDING
    assert spendable(container, referrer) == before  # recorded, not spendable
    pending = container.ledger.pending_grants(referrer)
    assert [(p.amount, p.status) for p in pending] == [(BONUS, PendingStatus.PENDING)]
    summary = container.platform24.referrals.summary(referrer)
    assert (summary.referred_count, summary.pending_credits, summary.credits_earned) == (1, BONUS, 0)

    # (release_due sweeps every account: on the shared MariaDB database other tests' too, so the
    # assertions are on this referrer's credits, not on the count it returns)
    clock.advance(days=HOLD_DAYS, seconds=-1)
    container.platform24.referrals.release_due()
    assert spendable(container, referrer) == before

    clock.advance(seconds=1)
    container.platform24.referrals.release_due()
    container.platform24.referrals.release_due()  # once
    assert spendable(container, referrer) == before + BONUS
    assert earned(container, referrer) == BONUS
    assert referral_of(container, referee).status is ReferralStatus.RELEASED
    summary = container.platform24.referrals.summary(referrer)
    assert (summary.pending_credits, summary.credits_earned) == (0, BONUS)
    sound(container, referrer, referee)


def test_the_referee_gets_the_smaller_bonus_at_the_first_purchase_only(container: Container, stripe: Stripe) -> None:
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    start = spendable(container, referee)
    buy(container, stripe, referee)
    assert spendable(container, referee) == start + 500 + REFEREE_BONUS
    buy(container, stripe, referee)  # a second purchase changes nothing of the referral
    assert spendable(container, referee) == start + 1000 + REFEREE_BONUS
    assert len(container.ledger.pending_grants(referrer)) == 1
    sound(container, referrer, referee)


def test_a_referee_bonus_of_zero_gives_the_referee_nothing(
    build: Callable[..., Container], stripe: Stripe, clock: ManualClock
) -> None:
    container = build(settings=referral_settings(referral_referee_bonus=0))
    shop = Stripe(container.billing, clock, stripe.gateway)  # type: ignore[arg-type]
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    start = spendable(container, referee)
    buy(container, shop, referee)
    assert spendable(container, referee) == start + 500
    assert referral_of(container, referee).status is ReferralStatus.PENDING


# --- refunds and disputes void it -----------------------------------------------------------
def test_a_refunded_first_purchase_voids_the_pending_bonus(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    session = buy(container, stripe, referee)
    clock.advance(days=3)
    stripe.refund(session, amount_refunded=100)  # even a partial refund
    assert referral_of(container, referee).status is ReferralStatus.VOIDED
    assert [p.status for p in container.ledger.pending_grants(referrer)] == [PendingStatus.VOIDED]
    clock.advance(days=HOLD_DAYS)
    container.platform24.referrals.release_due()
    assert earned(container, referrer) == 0
    stripe.refund(session, amount_refunded=200, previously=100)  # a repeat changes nothing more
    assert earned(container, referrer) == 0
    sound(container, referrer, referee)


def test_a_disputed_first_purchase_voids_the_pending_bonus_and_takes_back_the_referees(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    start = spendable(container, referee)
    session = buy(container, stripe, referee)
    stripe.dispute(session)
    assert referral_of(container, referee).status is ReferralStatus.VOIDED
    assert spendable(container, referee) == start  # the pack and the referee's bonus are reversed
    clock.advance(days=HOLD_DAYS + 1)
    container.platform24.referrals.release_due()
    assert container.ledger.pending_grants(referrer)[0].status is PendingStatus.VOIDED
    sound(container, referrer, referee)


def test_a_refund_of_a_later_purchase_leaves_the_bonus_alone(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    buy(container, stripe, referee)
    second = buy(container, stripe, referee)
    stripe.refund(second, amount_refunded=500)
    clock.advance(days=HOLD_DAYS)
    container.platform24.referrals.release_due()
    assert earned(container, referrer) == BONUS


# --- farming earns nothing --------------------------------------------------------------------
def test_the_referrers_own_mailbox_under_another_spelling_earns_nothing(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    local = unique("me").replace("-", "")
    referrer = signup(container, f"{local}@gmail.com")
    for spelling in (f"{local[:3]}.{local[3:]}+promo@gmail.com", f"{local}+2@googlemail.com"):
        referee = signup(container, spelling, referrer)
        assert referral_of(container, referee).reason == "same_email"
        buy(container, stripe, referee)
    clock.advance(days=HOLD_DAYS + 1)
    container.platform24.referrals.release_due()
    assert earned(container, referrer) == 0
    assert container.ledger.pending_grants(referrer) == []


def test_a_disposable_address_earns_nothing(container: Container, stripe: Stripe, clock: ManualClock) -> None:
    referrer = signup(container, email("referrer"))
    referee = signup(container, f"{unique('x')}@mailinator.com", referrer)
    assert referral_of(container, referee).reason == "disposable_email"
    buy(container, stripe, referee)
    clock.advance(days=HOLD_DAYS + 1)
    container.platform24.referrals.release_due()
    assert earned(container, referrer) == 0


def test_a_purchase_paid_by_the_referrers_customer_earns_nothing(
    container: Container, stripe: Stripe, clock: ManualClock
) -> None:
    """Billing refuses to give one provider customer to two users (the checkout event fails), so
    this is the hook's contract, called as billing calls it: the referrer's customer pays."""
    referrer = signup(container, email("referrer"))
    buy(container, stripe, referrer)  # the referrer's card, as a provider customer of ours
    with container.uow() as uow:
        referrer_customer = uow.billing.customer_id(referrer)
    assert referrer_customer
    referee = signup(container, email("referee"), referrer)
    container.platform24.referrals.paid("pay_x", referee, referrer_customer, 500)
    assert referral_of(container, referee).reason == "same_customer"
    container.platform24.referrals.paid("pay_y", referee, "cus_other", 500)  # not the first any more
    clock.advance(days=HOLD_DAYS + 1)
    container.platform24.referrals.release_due()
    assert earned(container, referrer) == 0
    assert container.ledger.pending_grants(referrer) == []


def test_bonuses_stop_at_the_monthly_cap_and_start_again_next_month(
    build: Callable[..., Container], stripe: Stripe, clock: ManualClock
) -> None:
    container = build(settings=referral_settings(referral_monthly_cap=2))
    shop = Stripe(container.billing, clock, stripe.gateway)  # type: ignore[arg-type]
    referrer = signup(container, email("referrer"))
    referees = [signup(container, email("referee"), referrer) for _ in range(4)]
    for referee in referees[:3]:
        buy(container, shop, referee)
    assert [referral_of(container, r).status for r in referees[:3]] == [ReferralStatus.PENDING] * 2 + [
        ReferralStatus.INELIGIBLE
    ]
    assert referral_of(container, referees[2]).reason == "monthly_cap"
    clock.set(clock.now().replace(day=1) + timedelta(days=32))  # next month
    buy(container, shop, referees[3])
    assert referral_of(container, referees[3]).status is ReferralStatus.PENDING
    container.platform24.referrals.release_due()
    assert len([p for p in container.ledger.pending_grants(referrer) if p.status is PendingStatus.RELEASED]) == 2


def test_an_unknown_code_registers_without_a_referral(container: Container) -> None:
    from entrypoints.platform24 import register_with_referral

    body = {"email": email(), "password": "correct horse battery", "name": None, "referral_code": "NOPE1234"}
    user = register_with_referral(container, body).user.id
    assert referral_of(container, user) is None


def test_canonical_email_drops_tags_everywhere_and_dots_only_where_the_provider_ignores_them() -> None:
    assert canonical_email("A.B+x@GMail.com") == "ab@gmail.com"
    assert canonical_email("a.b+x@googlemail.com") == "ab@gmail.com"
    assert canonical_email("a.b+x@example.com") == "a.b@example.com"
