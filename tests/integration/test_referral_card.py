"""The same card as the referrer earns nothing (issue 27), with signed Stripe events on memory,
SQLite and MariaDB: the card's fingerprint is read from the charge (`charge.succeeded`, or any
charge event) and stored on the payment, whichever order the charge and the checkout arrive in."""

from __future__ import annotations

import uuid

from adapters.stripe import events as ev
from domain.billing.model import EventStatus
from domain.platform.referrals import ReferralStatus
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.containers import urls
from tests.fixtures.referrals import HOLD_DAYS, earned, email, referral_of, signup, sound, spendable
from tests.fixtures.stripe import Stripe


def card() -> str:
    return uuid.uuid4().hex[:16]


def checkout(container: Container, stripe: Stripe, user_id: str) -> ev.CheckoutFacts:
    started = container.billing.checkout(user_id, pack_id="pack_500", **urls())
    return stripe.facts(started.session_id)


def charge(stripe: Stripe, facts: ev.CheckoutFacts, fingerprint: str) -> dict[str, object]:
    assert facts.payment_intent is not None
    event = ev.charge_succeeded(
        payment_intent=facts.payment_intent,
        amount_cents=facts.amount_cents,
        currency=facts.currency,
        customer=facts.customer,
        now=stripe.now(),
        fingerprint=fingerprint,
    )
    stripe.deliver(event)
    return event


def paid(stripe: Stripe, facts: ev.CheckoutFacts) -> None:
    for event in ev.checkout_outcome(facts, "paid", stripe.clock.now()):
        stripe.deliver(event)


def buy(container: Container, stripe: Stripe, user_id: str, fingerprint: str, *, charge_first: bool = True) -> str:
    facts = checkout(container, stripe, user_id)
    if charge_first:  # Stripe sends charge.succeeded and checkout.session.completed in no set order
        charge(stripe, facts, fingerprint)
        paid(stripe, facts)
    else:
        paid(stripe, facts)
        charge(stripe, facts, fingerprint)
    return facts.session_id


def fingerprint_of(container: Container, session_id: str) -> str | None:
    with container.uow() as uow:
        payment = uow.billing.payment_by("session_id", session_id)  # type: ignore[attr-defined]
    return payment.card_fingerprint  # type: ignore[no-any-return]


def test_the_charges_card_fingerprint_is_stored_on_the_payment_in_either_order(
    container: Container, stripe: Stripe
) -> None:
    buyer = signup(container, email("buyer"))
    first, second = card(), card()
    assert fingerprint_of(container, buy(container, stripe, buyer, first)) == first
    assert fingerprint_of(container, buy(container, stripe, buyer, second, charge_first=False)) == second


def test_a_charge_of_no_payment_of_ours_is_ignored_not_left_pending(container: Container, stripe: Stripe) -> None:
    event = ev.charge_succeeded(
        payment_intent=f"pi_unknown_{uuid.uuid4().hex[:8]}", amount_cents=500, currency="usd", now=stripe.now()
    )
    stripe.deliver(event)
    stored = container.billing.event(str(event["id"]))
    assert stored is not None and stored.status is EventStatus.IGNORED


def test_the_referrers_card_on_the_first_purchase_earns_nothing(container: Container, stripe: Stripe) -> None:
    referrer = signup(container, email("referrer"))
    shared = card()
    buy(container, stripe, referrer, shared)
    referee = signup(container, email("referee"), referrer)
    start = spendable(container, referee)

    buy(container, stripe, referee, shared)

    referral = referral_of(container, referee)
    assert (referral.status, referral.reason) == (ReferralStatus.INELIGIBLE, "same_card")
    assert container.ledger.pending_grants(referrer) == []
    assert spendable(container, referee) == start + 500  # the pack, no referee bonus
    sound(container, referrer, referee)


def test_the_card_learnt_after_the_purchase_voids_the_pending_bonus(container: Container, stripe: Stripe) -> None:
    referrer = signup(container, email("referrer"))
    shared = card()
    buy(container, stripe, referrer, shared)
    referee = signup(container, email("referee"), referrer)
    start = spendable(container, referee)

    buy(container, stripe, referee, shared, charge_first=False)  # pending first, then the card is known

    referral = referral_of(container, referee)
    assert (referral.status, referral.reason) == (ReferralStatus.VOIDED, "same_card")
    assert [p.status.value for p in container.ledger.pending_grants(referrer)] == ["voided"]
    assert spendable(container, referee) == start + 500  # the referee's bonus was taken back
    sound(container, referrer, referee)


def test_the_release_checks_the_card_once_more(container: Container, stripe: Stripe, clock: ManualClock) -> None:
    """The referee's card is known at the purchase; the referrer pays with that card only during
    the hold: the release finds the match and voids instead of paying out."""
    referrer = signup(container, email("referrer"))
    referee = signup(container, email("referee"), referrer)
    shared = card()
    buy(container, stripe, referee, shared)
    assert referral_of(container, referee).status is ReferralStatus.PENDING
    buy(container, stripe, referrer, shared)

    clock.advance(days=HOLD_DAYS, seconds=1)
    container.platform24.referrals.release_due()
    referral = referral_of(container, referee)
    assert (referral.status, referral.reason) == (ReferralStatus.VOIDED, "same_card")
    assert earned(container, referrer) == 0
    sound(container, referrer, referee)


def test_another_card_still_earns_the_bonus(container: Container, stripe: Stripe, clock: ManualClock) -> None:
    referrer = signup(container, email("referrer"))
    buy(container, stripe, referrer, card())
    referee = signup(container, email("referee"), referrer)
    buy(container, stripe, referee, card(), charge_first=False)
    assert referral_of(container, referee).status is ReferralStatus.PENDING
    clock.advance(days=HOLD_DAYS, seconds=1)
    container.platform24.referrals.release_due()
    assert referral_of(container, referee).status is ReferralStatus.RELEASED
    assert earned(container, referrer) == 200
