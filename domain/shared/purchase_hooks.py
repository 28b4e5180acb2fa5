"""What billing tells the rest of the service about money that came in or went back (issue 24).

Billing calls these after its own transaction committed, at least once per event (a retried or
replayed event calls them again): every hook must be idempotent. An exception fails the event,
which the job queue retries, so nothing billing tells is lost.
"""

from __future__ import annotations

from typing import Protocol


class PurchaseHooks(Protocol):
    def paid(
        self,
        payment_id: str,
        user_id: str,
        customer_id: str | None,
        amount_cents: int,
        card_fingerprint: str | None = None,
    ) -> None:
        """A payment of the user's is paid (a credit pack, or a plan's invoice); the card's
        fingerprint once a charge event told it (told again when it does, after the payment)."""

    def reversed(self, payment_id: str) -> None:
        """A payment was refunded (in part or in full) or disputed."""


class NoPurchaseHooks:
    def paid(
        self,
        payment_id: str,
        user_id: str,
        customer_id: str | None,
        amount_cents: int,
        card_fingerprint: str | None = None,
    ) -> None:
        return None

    def reversed(self, payment_id: str) -> None:
        return None
