"""The one place that says what each provider event type does: event type -> handler. A type not
listed here is stored and ignored (events.py). The table of effects is in handlers.py."""

from __future__ import annotations

from collections.abc import Mapping

from domain.billing.convergence import PAYMENT_EVENTS
from domain.billing.services.converge import Convergence
from domain.billing.services.events import Handler
from domain.billing.services.handlers import EventHandlers


def handler_registry(handlers: EventHandlers, convergence: Convergence) -> Mapping[str, Handler]:
    registry: dict[str, Handler] = {kind: convergence.on_payment_event for kind in PAYMENT_EVENTS}
    return registry | {
        "invoice.paid": handlers.on_invoice_paid,
        "invoice.payment_failed": handlers.on_invoice_failed,
        "customer.subscription.created": handlers.on_subscription,
        "customer.subscription.updated": handlers.on_subscription,
        "customer.subscription.deleted": handlers.on_subscription,
    }
