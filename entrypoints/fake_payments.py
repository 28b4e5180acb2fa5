"""The embedded default's payments: wire the fake checkout when the fake gateway is in use.

The HTTP app (the fake-checkout page) and the CLI (`houston simulate-payment`) both ask this
module, so that neither imports an adapter and both decide the same way: the page and the
command exist only when `STRIPE_SECRET_KEY` is unset, i.e. when bootstrap chose the fake gateway.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.stripe.fake import TEST_CARDS, FakeCheckout, FakePaymentGateway
from entrypoints.config import ConfigError

if TYPE_CHECKING:
    from domain.billing.ports import PaymentGateway
    from domain.billing.services import BillingService
    from domain.shared.clock import Clock
    from entrypoints.config import Settings

log = logging.getLogger(__name__)

__all__ = ["TEST_CARDS", "build_fake_checkout", "fake_state_file"]


def fake_state_file(settings: Settings) -> str | None:
    """Where the fake provider keeps what it knows, so that every gunicorn worker, RQ worker and
    `houston simulate-payment` see one provider: beside the embedded database's other development
    files. None (per-process memory) for a memory database and for tests."""
    if settings.env == "test" or settings.database_url.startswith("memory:"):
        return None
    return str(Path(settings.data_dir) / "fake-stripe.json")


def build_fake_checkout(
    settings: Settings, billing: BillingService, gateway: PaymentGateway, clock: Clock
) -> FakeCheckout | None:
    """The fake checkout when `gateway` is the fake one (else None), built once by bootstrap().
    Also binds the fake gateway's own events (a refund's `charge.refunded`, a cancellation's
    `customer.subscription.updated`) to the same signed delivery."""
    if not isinstance(gateway, FakePaymentGateway):
        return None
    if settings.is_production:  # a Pay button that grants credits for nothing: never in production
        raise ConfigError("HOUSTON_ENV=production never mounts the fake checkout page")
    secret = settings.stripe_webhook_secret
    if not secret:
        log.warning("no STRIPE_WEBHOOK_SECRET: the fake checkout is off (its events could not be verified)")
        return None
    checkout = FakeCheckout(billing=billing, webhook_secret=secret, clock=clock, gateway=gateway)
    gateway.bind_delivery(checkout.deliver)
    return checkout
