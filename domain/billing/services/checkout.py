"""Selling: checkout sessions, the billing portal, cancelling a subscription, and the admin
refund (which only asks the provider: the ledger follows the webhook). What these read back goes
through `BillingQueries` (queries.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from domain.billing.catalogue import Catalogue, Pack, Plan
from domain.billing.errors import (
    PaymentProviderError,
    PaymentProviderUnavailable,
    SubscriptionNotFound,
    UnknownCatalogueItem,
)
from domain.billing.model import (
    CheckoutStarted,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from domain.billing.ports import BillingUnitOfWork, CheckoutRequest, CheckoutSession, PaymentGateway, RefundResult
from domain.billing.services.base import locked_payment
from domain.billing.services.queries import BillingQueries, SubscriptionView
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DuplicateRecord, IdempotencyConflict, InvalidInput, NotFound
from domain.shared.idempotency import check_key, scoped_key
from domain.shared.ids import IdGenerator
from domain.shared.uow import transaction


class CheckoutUseCases:
    """Checkout, the billing portal, cancelling a subscription and the admin refund: everything
    that asks the provider for something."""

    def __init__(
        self,
        *,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        ids: IdGenerator,
        catalogue: Catalogue,
        gateway: PaymentGateway,
        queries: BillingQueries,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._catalogue = catalogue
        self._gateway = gateway
        self._queries = queries

    # --- checkout ----------------------------------------------------------------------------
    def checkout(
        self,
        user_id: str,
        *,
        pack_id: str | None = None,
        plan_id: str | None = None,
        success_url: str,
        cancel_url: str,
        idempotency_key: str | None = None,
    ) -> CheckoutStarted:
        """Record a pending payment with the catalogue's figures, then open a Checkout session
        for it. The same Idempotency-Key returns the same session."""
        key = None
        if idempotency_key is not None:
            check_key(idempotency_key)
            key = scoped_key("checkout", idempotency_key)  # issue 26: the one stored form (domain.shared.idempotency)
        payment = self._pending_payment(user_id, pack_id, plan_id, key)
        if payment.session_id and payment.checkout_url:
            return CheckoutStarted(payment.session_id, payment.checkout_url, payment.id)
        request = CheckoutRequest(
            mode="payment" if payment.kind is PaymentKind.PACK else "subscription",
            user_id=user_id,
            customer_email=payment.customer_email,
            customer_id=payment.customer_id,
            price_id=payment.price_id,
            product_name=payment.item_name,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            success_url=success_url,
            cancel_url=cancel_url,
            metadata={"payment_id": payment.id, "user_id": user_id, f"{payment.kind.value}_id": payment.item_id},
            idempotency_key=f"checkout:{payment.id}",
        )
        try:
            session = self._gateway.create_checkout_session(request)
        except (PaymentProviderUnavailable, PaymentProviderError):
            self._fail_checkout(payment.id)
            raise
        transaction(self._uow, lambda uow: self._record_session(uow, payment.id, session))
        return CheckoutStarted(session.id, session.url, payment.id)

    def _record_session(self, uow: BillingUnitOfWork, payment_id: str, session: CheckoutSession) -> None:
        """The session the provider opened, on its payment (a rerun writes the same values)."""
        locked = locked_payment(uow, payment_id)
        locked.session_id, locked.checkout_url = session.id, session.url
        locked.payment_intent_id = locked.payment_intent_id or session.payment_intent_id
        locked.customer_id = locked.customer_id or session.customer_id
        locked.updated_at = self._clock.now()
        uow.billing.update_payment(locked)

    def _pending_payment(self, user_id: str, pack_id: str | None, plan_id: str | None, key: str | None) -> Payment:
        """The payment this checkout is for: the one recorded under the same Idempotency-Key (a
        replay, even of a concurrent request: the loser of the insert reads the winner's), else a
        new one. A plan checkout takes the user's one plan slot (a unique key): while another plan
        checkout is open or its subscription lives, a second one is 409."""
        kind, item, credits, price_id = self._item(pack_id, plan_id)
        for _ in range(2):
            if key is not None:
                replayed = self._replay(user_id, key, kind, item.id)
                if replayed is not None:
                    return replayed
            try:
                return transaction(
                    self._uow, lambda uow: self._new_payment(uow, user_id, kind, item, credits, price_id, key)
                )
            except DuplicateRecord:
                if key is None:
                    raise Conflict(
                        "A plan checkout is already open, or you already have a plan; change it in the billing portal."
                    ) from None
                continue  # a concurrent request with this key inserted first: replay it
        raise Conflict("A plan checkout is already open, or you already have a plan; change it in the billing portal.")

    def _replay(self, user_id: str, key: str, kind: PaymentKind, item_id: str) -> Payment | None:
        with self._uow() as uow:
            existing = uow.billing.payment_by_checkout_key(user_id, key)
            if existing is None:
                return None
            if (existing.kind, existing.item_id) != (kind, item_id):
                raise IdempotencyConflict("This Idempotency-Key was used for a different checkout.")
            if existing.status is PaymentStatus.FAILED and existing.session_id is None:
                existing.status = PaymentStatus.PENDING  # the provider failed last time: try again
                existing.plan_slot = user_id if kind is PaymentKind.PLAN else None
                try:
                    uow.billing.update_payment(existing)
                    uow.commit()
                except DuplicateRecord:
                    raise Conflict("A plan checkout is already open, or you already have a plan.") from None
            return existing

    def _new_payment(
        self,
        uow: BillingUnitOfWork,
        user_id: str,
        kind: PaymentKind,
        item: Pack | Plan,
        credits: int,
        price_id: str | None,
        key: str | None,
    ) -> Payment:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        subscription = uow.billing.get_subscription(user_id)
        if kind is PaymentKind.PLAN and subscription is not None and subscription.live:
            raise Conflict("You already have a subscription; change it in the billing portal.")
        now = self._clock.now()
        payment = Payment(
            id=self._ids.new_id("pay"),
            user_id=user_id,
            kind=kind,
            item_id=item.id,
            item_name=item.name,
            credits=credits,
            amount_cents=item.amount_cents,
            currency=item.currency,
            status=PaymentStatus.PENDING,
            created_at=now,
            updated_at=now,
            customer_email=user.email,
            price_id=price_id,
            checkout_key=key,
            customer_id=uow.billing.customer_id(user_id),
            plan_slot=user_id if kind is PaymentKind.PLAN else None,
        )
        uow.billing.add_payment(payment)
        return payment

    def _item(self, pack_id: str | None, plan_id: str | None) -> tuple[PaymentKind, Pack | Plan, int, str | None]:
        if (pack_id is None) == (plan_id is None):
            raise InvalidInput("Give exactly one of pack_id and plan_id.", details={"pack_id": "Or plan_id."})
        if pack_id is not None:
            pack = self._catalogue.pack(pack_id)
            if pack is None:
                raise UnknownCatalogueItem("pack_id", pack_id)
            return PaymentKind.PACK, pack, pack.credits, pack.price_id
        assert plan_id is not None
        plan = self._catalogue.plan(plan_id)
        if plan is None or plan.is_free:
            raise UnknownCatalogueItem("plan_id", plan_id)
        return PaymentKind.PLAN, plan, plan.monthly_credits, plan.price_id

    def _fail_checkout(self, payment_id: str) -> None:
        """The provider refused or was down: no session exists, so the plan slot is free again."""

        def fail(uow: BillingUnitOfWork) -> None:  # decided on the locked row: a rerun changes nothing more
            payment = locked_payment(uow, payment_id)
            if payment.status is not PaymentStatus.PENDING or payment.session_id is not None:
                return
            payment.status, payment.plan_slot, payment.updated_at = PaymentStatus.FAILED, None, self._clock.now()
            uow.billing.update_payment(payment)

        transaction(self._uow, fail)

    # --- the customer's account --------------------------------------------------------------
    def portal(self, user_id: str, *, return_url: str) -> str:
        with self._uow() as uow:
            customer_id = uow.billing.customer_id(user_id)
        if customer_id is None:
            raise NotFound("No billing account yet: buy a pack or a plan first.")
        return self._gateway.create_portal_session(customer_id=customer_id, return_url=return_url)

    def cancel_subscription(self, user_id: str) -> SubscriptionView:
        """Cancel at the end of the paid period, through the provider; the webhooks that follow
        confirm it. Credits already granted stay until they expire."""
        with self._uow() as uow:
            found = uow.billing.get_subscription(user_id)
        if found is None or not found.live:
            raise SubscriptionNotFound()
        self._gateway.cancel_subscription_at_period_end(found.provider_id)

        def mark(uow: BillingUnitOfWork) -> None:  # sets a flag: a rerun writes the same
            current = uow.billing.get_subscription(user_id, for_update=True)
            if current is not None and current.provider_id == found.provider_id:
                current.cancel_at_period_end, current.updated_at = True, self._clock.now()
                uow.billing.save_subscription(current)

        transaction(self._uow, mark)
        return self._queries.subscription(user_id)

    # --- admin -------------------------------------------------------------------------------
    def refund(self, payment_id: str, *, amount_cents: int | None, idempotency_key: str | None = None) -> RefundResult:
        """Ask the provider to refund a paid payment (all that is left, or `amount_cents`). The
        credits follow from the provider's charge.refunded webhook, never from this call."""
        payment = self._queries.payment(payment_id)
        if (
            payment.status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
            or not payment.payment_intent_id
        ):
            raise Conflict(f"A {payment.status.value} payment cannot be refunded here.")
        left = payment.amount_cents - payment.refunded_cents
        if amount_cents is not None and not 1 <= amount_cents <= left:
            raise InvalidInput(f"amount_cents must be 1 to {left}.", details={"amount_cents": f"1 to {left}."})
        # Without a caller key, a double click before the webhook lands asks the same refund twice:
        # the same key lets the provider answer the first one again.
        basis = idempotency_key or f"{payment.refunded_cents}:{amount_cents}"
        key = f"refund:{payment.id}:{hashlib.sha256(basis.encode()).hexdigest()[:32]}"
        return self._gateway.refund(
            payment_intent_id=payment.payment_intent_id, amount_cents=amount_cents, idempotency_key=key
        )
