"""A referee's first purchase whose completion and refund Stripe delivers at the same time, each
more than once, on MariaDB with real threads: whatever the interleaving, billing converges to
"refunded" and the referral hooks it calls after each convergence leave the referrer nothing —
the pending bonus voided, never released, never released-then-taken — and the books sound.

Two defects it found (both fixed): the refund stayed pending for good beside a payment that had
learnt its payment intent (the convergence wrote the id only at its end, and READ COMMITTED has no
gap lock to hold the other side back), so the buyer kept the credits and the referrer was paid;
and a refund that converged before any thread told the hooks "paid" left the referral open.

The referral hooks run after billing's commit from converged state (domain/shared/purchase_hooks.py);
this is the race the unit tests of issue 24 could not reach: a hook told "paid" by one thread while
another thread's refund has already converged."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from adapters.stripe import events as ev
from domain.billing.model import PaymentStatus
from domain.ledger.model import PendingStatus
from domain.platform.referrals import ReferralStatus
from domain.shared.clock import ManualClock
from entrypoints.bootstrap import Container
from tests.fixtures.concurrency import run_together
from tests.fixtures.containers import urls
from tests.fixtures.referrals import HOLD_DAYS, earned, email, referral_of, referral_settings, signup
from tests.fixtures.stripe import Stripe

pytestmark = pytest.mark.mysql
ROUNDS = 6


def _deliver_until_accepted(stripe: Stripe, event: dict[str, Any]) -> None:
    """Stripe redelivers until it gets a 2xx: a delivery that lost a race (a deadlock the handler
    gave up on) is simply delivered again."""
    for attempt in range(8):
        try:
            stripe.deliver(event)
            return
        except Exception:  # noqa: BLE001 - the next delivery is the provider's retry
            if attempt == 7:
                raise


@pytest.mark.parametrize("backend", ["mariadb"])
def test_a_first_purchase_completed_and_refunded_at_once_never_pays_the_referrer(
    build: Callable[..., Container], clock: ManualClock, gateway: Any
) -> None:
    container = build(settings=referral_settings(referral_hold_days=HOLD_DAYS))
    stripe = Stripe(container.billing, clock, gateway)
    rng = random.Random(20261202)
    pairs = []
    for _ in range(ROUNDS):
        referrer = signup(container, email("referrer"))
        referee = signup(container, email("referee"), referrer)
        started = container.billing.checkout(referee, pack_id="pack_500", **urls())
        facts = stripe.facts(started.session_id)
        paid = ev.checkout_outcome(facts, "paid", clock.now())
        assert facts.payment_intent is not None
        refund = ev.charge_refunded(
            payment_intent=facts.payment_intent,
            amount_cents=facts.amount_cents,
            currency=facts.currency,
            amount_refunded=facts.amount_cents,
            previously_refunded=0,
            now=stripe.now(),
        )
        deliveries = [*paid, *paid, refund, refund]  # each event twice: Stripe does not promise once
        rng.shuffle(deliveries)
        calls = [lambda e=event: _deliver_until_accepted(stripe, e) for event in deliveries]
        assert run_together(calls)[1] == []
        pairs.append((referrer, referee))
        details = container.billing.checkout_details(started.session_id)
        assert details is not None
        payment = container.billing.payment(details.payment_id)
        # Billing converged: the refund is not left pending beside a payment that knows its intent.
        assert (payment.status, payment.refunded_cents, payment.credits_held) == (PaymentStatus.REFUNDED, 2000, 0)

    clock.advance(days=HOLD_DAYS + 1)
    container.platform24.referrals.release_due()
    for referrer, referee in pairs:
        assert referral_of(container, referee).status is ReferralStatus.VOIDED
        assert {p.status for p in container.ledger.pending_grants(referrer)} <= {PendingStatus.VOIDED}
        assert earned(container, referrer) == 0
        assert container.ledger.check_invariants(referrer) == []
        assert container.ledger.check_invariants(referee) == []
