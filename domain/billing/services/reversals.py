"""Money going back: refunds and disputes take credits back from the payment's grant.

Two steps, so that concurrent or repeated events never take credits twice:
1. Claim, under the payment's row lock: the credits the provider's figures now call for
   (`credits_for_refund(amount_refunded)`, cumulative; everything for a dispute) minus what was
   already asked (`reversal_target`) become a pending Reversal, and the target moves up.
2. Apply every pending reversal of the payment through `Ledger.reverse_grant` with the key
   `reversal:<id>`; what the ledger could not take (credits already spent or held) is the
   reversal's `shortfall`, added to the payment's for admins to see. A crash between the steps
   is finished by the next event's or the retry's apply.

Dispute policy: on `charge.dispute.created` the payment is `disputed` and everything still left
of its grant is reversed at once (not frozen: the ledger has no freeze, and a reversal is visible
in the user's history). If the dispute is won (`charge.dispute.closed`, status `won`), the credits
it took are granted back (source `refund-restore`, the original grant's expiry); a lost dispute
changes nothing more.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.billing import objects as o
from domain.billing.model import Payment, PaymentStatus, Reversal, ReversalStatus
from domain.billing.ports import BillingUnitOfWork
from domain.billing.services.handlers import EventHandlers, Outcome, _done, _ignored
from domain.ledger.model import GrantSource


class ReversalUseCases(EventHandlers):
    def _on_charge_refunded(self, event: Mapping[str, Any]) -> Outcome:
        charge = o.obj(event)
        refunded = o.integer(charge, "amount_refunded")
        if refunded is None:
            return _ignored("no amount_refunded")
        with self._uow() as uow:
            payment = self._payment_of_charge(uow, charge)
            if payment is None:
                return _ignored("no payment of ours has this payment intent")
            if refunded > payment.refunded_cents:
                payment.refunded_cents = refunded
                if payment.status is not PaymentStatus.DISPUTED:
                    full = refunded >= payment.amount_cents
                    payment.status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
            self._claim(uow, payment, payment.credits_for_refund(refunded), "refund", f"refund:{o.text(charge, 'id')}:{refunded}")
            uow.commit()
        self._apply_reversals(payment.id)
        self.purchase_hooks.reversed(payment.id)  # issue 24: a refunded first purchase voids the referral bonus
        return _done(f"refunded {refunded} cents in all")

    def _on_dispute_created(self, event: Mapping[str, Any]) -> Outcome:
        dispute = o.obj(event)
        with self._uow() as uow:
            payment = self._payment_of_charge(uow, dispute)
            if payment is None:
                return _ignored("no payment of ours has this payment intent")
            payment.status = PaymentStatus.DISPUTED
            self._claim(uow, payment, payment.credits, "dispute", f"dispute:{o.text(dispute, 'id')}")
            uow.commit()
        self._apply_reversals(payment.id)
        self.purchase_hooks.reversed(payment.id)  # issue 24: so does a dispute
        return _done("disputed: what was left of the grant is reversed")

    def _on_dispute_closed(self, event: Mapping[str, Any]) -> Outcome:
        dispute = o.obj(event)
        dispute_id = o.text(dispute, "id") or ""
        if dispute.get("status") != "won":
            return _done(f"dispute closed: {dispute.get('status')}")
        with self._uow() as uow:
            payment = self._payment_of_charge(uow, dispute)
            if payment is None:
                return _ignored("no payment of ours has this payment intent")
            taken = sum(r.taken for r in uow.billing.reversals_of(payment.id) if r.reference == f"dispute:{dispute_id}")
        self._apply_reversals(payment.id)
        if taken:
            expires = payment.grant_expires_at if payment.grant_expires_at and payment.grant_expires_at > self._clock.now() else None
            self._ledger.grant(
                payment.user_id, source=GrantSource.REFUND_RESTORE, amount=taken,
                idempotency_key=f"dispute-won:{dispute_id}", expires_at=expires, reference=f"payment:{payment.id}",
            )  # fmt: skip
        with self._uow() as uow:
            locked = self._locked_payment(uow, payment.id)
            if locked.status is PaymentStatus.DISPUTED:
                refunded = locked.refunded_cents
                locked.status = PaymentStatus.PAID if not refunded else (
                    PaymentStatus.REFUNDED if refunded >= locked.amount_cents else PaymentStatus.PARTIALLY_REFUNDED)
                locked.reversal_target = locked.credits_for_refund(refunded)
                locked.credits_reversed -= taken
                locked.updated_at = self._clock.now()
                uow.billing.update_payment(locked)
                uow.commit()
        return _done(f"dispute won: {taken} credits restored")

    def _payment_of_charge(self, uow: BillingUnitOfWork, charge: Mapping[str, Any]) -> Payment | None:
        intent = o.text(charge, "payment_intent")
        return uow.billing.payment_by("payment_intent_id", intent, for_update=True) if intent else None

    def _claim(self, uow: BillingUnitOfWork, payment: Payment, target: int, reason: str, reference: str) -> None:
        """Under the payment's lock: ask for the credits `target` calls for beyond what was asked."""
        now = self._clock.now()
        wanted = min(target, payment.credits) - payment.reversal_target
        if wanted > 0:
            uow.billing.add_reversal(
                Reversal(id=self._ids.new_id("rev"), payment_id=payment.id, reason=reason, reference=reference[:255],
                         credits=wanted, status=ReversalStatus.PENDING, created_at=now)
            )  # fmt: skip
            payment.reversal_target += wanted
        payment.updated_at = now
        uow.billing.update_payment(payment)

    def _apply_reversals(self, payment_id: str) -> None:
        with self._uow() as uow:
            payment = uow.billing.get_payment(payment_id)
            pending = uow.billing.pending_reversals(payment_id)
        assert payment is not None
        for reversal in pending:
            shortfall = reversal.credits
            if payment.grant_id is not None:
                movement = self._ledger.reverse_grant(
                    payment.grant_id, amount=reversal.credits, reason=f"{reversal.reason} payment:{payment.id}",
                    idempotency_key=f"reversal:{reversal.id}",
                )  # fmt: skip
                shortfall = movement.shortfall
            self._finish_reversal(payment_id, reversal.id, shortfall)

    def _finish_reversal(self, payment_id: str, reversal_id: str, shortfall: int) -> None:
        with self._uow() as uow:
            payment = self._locked_payment(uow, payment_id)
            reversal = next((r for r in uow.billing.pending_reversals(payment_id) if r.id == reversal_id), None)
            if reversal is None:  # a concurrent apply finished it
                return
            reversal.taken, reversal.shortfall = reversal.credits - shortfall, shortfall
            reversal.status, reversal.done_at = ReversalStatus.DONE, self._clock.now()
            uow.billing.update_reversal(reversal)
            payment.credits_reversed += reversal.taken
            payment.shortfall += shortfall
            payment.updated_at = self._clock.now()
            uow.billing.update_payment(payment)
            uow.commit()
