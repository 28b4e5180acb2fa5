"""`houston simulate-payment SESSION_ID [--fail | --cancel | --renew | --renew-fails | --end-period]`:
the fake checkout, and the fake provider's clock, from a shell.

Development only, like the page: it exists when STRIPE_SECRET_KEY is unset (the fake gateway).
It sends the events a real Stripe would send for the outcome, signed with the webhook secret,
through the same `billing.receive_webhook` as the webhook route, then prints what it sent and the
payment's status. With REDIS_URL set the events are stored at once and handled by `houston worker`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from domain.shared.errors import DomainError
from entrypoints.config import Settings
from entrypoints.fake_payments import TEST_CARDS


def add_commands(sub: Any) -> None:
    """Add `simulate-payment` to the CLI's subcommands."""
    simulate = sub.add_parser(
        "simulate-payment",
        help="development only: pay (or --fail, --cancel) a Checkout session of the fake gateway",
    )
    simulate.add_argument("session_id")
    outcome = simulate.add_mutually_exclusive_group()
    outcome.add_argument(
        "--fail",
        dest="outcome",
        action="store_const",
        const="failed",
        help="the payment fails (pack: async_payment_failed; plan: invoice.payment_failed)",
    )
    outcome.add_argument(
        "--cancel",
        dest="outcome",
        action="store_const",
        const="cancel",
        help="the buyer abandons the session (checkout.session.expired)",
    )
    outcome.add_argument(
        "--renew",
        dest="outcome",
        action="store_const",
        const="renew",
        help="a paid plan: its period ends and the next invoice is paid (invoice.paid: new credits)",
    )
    outcome.add_argument(
        "--renew-fails",
        dest="outcome",
        action="store_const",
        const="renew-fails",
        help="a paid plan: the next invoice fails (invoice.payment_failed: past_due, no credits)",
    )
    outcome.add_argument(
        "--end-period",
        dest="outcome",
        action="store_const",
        const="end",
        help="a plan (typically cancelled): its period ends and the subscription with it "
        "(customer.subscription.deleted: back to the free plan)",
    )
    simulate.add_argument(
        "--card",
        choices=sorted(TEST_CARDS),
        default=None,
        help="pay with this shared test card (its fingerprint is the same for every buyer, "
        "as when two accounts pay with one card: the referral same-card rule); "
        "default: a card of the buyer's own",
    )
    simulate.set_defaults(handler=_simulate_payment, outcome="paid")


def _simulate_payment(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.bootstrap import bootstrap

    return simulate_payment(bootstrap(settings), args.session_id, args.outcome, card=args.card)


def simulate_payment(container: Any, session_id: str, outcome: str = "paid", *, card: str | None = None) -> int:
    """Complete `session_id` with `outcome` (paid | failed | cancel); returns the exit status."""
    checkout = container.fake_checkout
    if checkout is None:
        print(
            "houston: simulate-payment needs the fake gateway: unset STRIPE_SECRET_KEY "
            "(with Stripe, use its CLI: stripe trigger / stripe listen)",
            file=sys.stderr,
        )
        return 2
    try:
        if outcome in ("renew", "renew-fails", "end"):
            events = checkout.next_period(session_id, outcome)
        else:
            events = checkout.complete(session_id, outcome, card=card)
    except DomainError as error:
        print(f"houston: {error.message}", file=sys.stderr)
        return 1
    for event in events:
        print(f"sent {event['type']} ({event['id']})")
    details = checkout.details(session_id)
    print(f"payment {details.payment_id}: {details.status}")
    for event in events[::-1]:
        if event["type"].startswith("customer.subscription."):
            print(f"subscription {event['data']['object']['id']}: {event['data']['object']['status']}")
            break
    return 0
