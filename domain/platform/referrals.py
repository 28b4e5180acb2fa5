"""Referrals: a code per user, and a bonus that throwaway accounts cannot farm (issue 24).

The referrer's bonus is never given at sign-up. It is a **pending grant** in the ledger (recorded,
not spendable) from the referee's first paid purchase, released when that purchase has stood for
the hold period without refund or dispute, voided when it is refunded or disputed first.

Earns nothing (the referral is kept, `ineligible`, with the reason as an abuse signal for admins):
| reason            | when                                                                        |
| ----------------- | --------------------------------------------------------------------------- |
| `same_email`      | the referee's email, canonical (lower case, `+tag` cut, Gmail dots dropped), is the referrer's |
| `disposable_email`| the referee's email domain is on the maintained disposable-domain list       |
| `same_customer`   | the first purchase was paid by a payment-provider customer of the referrer's |
| `same_card`       | the first purchase was paid with a card (the provider's fingerprint) the referrer has paid with; when the card is learnt after the purchase (its charge event comes later), the pending bonus is voided with this reason, up to the release, which checks again |
| `monthly_cap`     | the referrer already has `monthly_cap` bonuses whose purchase fell in that UTC month |
| `no_bonus`        | the configured bonus is 0                                                    |

Saga (each step idempotent by its key; `release_due`, run by the periodic worker, finishes any
step a crash interrupted):
| step                                   | key                          | finished by                     |
| -------------------------------------- | ---------------------------- | ------------------------------- |
| referral `pending` (first paid purchase) | the referee (one referral)   | -                               |
| referrer's pending grant in the ledger | `referral:<id>`              | `release_due` (no pending id yet) |
| referee's bonus (an ordinary grant)    | `referral-welcome:<id>`      | `release_due`                   |
| release after the hold                 | `referral-release:<id>`      | `release_due`                   |
| void on refund / dispute               | `referral-void:<id>`         | the event's retry               |
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from domain.identity.model import User
from domain.ledger.errors import PendingGrantClosed
from domain.ledger.model import GrantSource, PendingStatus
from domain.ledger.ports import CreditGrants
from domain.shared.clock import Clock
from domain.shared.errors import DuplicateRecord
from domain.shared.ids import IdGenerator
from domain.shared.uow import UnitOfWork, transaction

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8
CODE_MAX_LENGTH = 16
_CODE = re.compile(rf"^[A-Za-z0-9]{{1,{CODE_MAX_LENGTH}}}$")
# Providers that ignore dots in the local part (Gmail's two domains are one mailbox space).
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class ReferralStatus(StrEnum):
    SIGNED_UP = "signed_up"  # recorded; no paid purchase yet
    PENDING = "pending"  # bonus pending in the referrer's ledger, in its hold period
    RELEASED = "released"
    VOIDED = "voided"  # the first purchase was refunded or disputed during the hold
    INELIGIBLE = "ineligible"  # earns nothing; `reason` says why


@dataclass(frozen=True, slots=True)
class ReferralPolicy:
    bonus: int = 200  # the referrer's credits
    referee_bonus: int = 50  # the referee's credits at their first purchase (0: none)
    hold_days: int = 14
    monthly_cap: int = 10  # bonuses per referrer per UTC month
    link_base: str = "http://127.0.0.1:8000/signup?ref="


@dataclass(slots=True)
class Referral:
    id: str
    referrer_id: str
    referee_id: str
    status: ReferralStatus
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    payment_id: str | None = None
    pending_grant_id: str | None = None
    referee_grant_id: str | None = None
    bonus: int = 0
    referee_bonus: int = 0
    qualified_at: datetime | None = None
    release_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReferralSummary:
    code: str
    link: str
    referred_count: int
    pending_credits: int
    credits_earned: int


def canonical_email(email: str) -> str:
    """The mailbox an address reaches: lower case, `+tag` cut (every major provider delivers
    `a+x@` to `a@`), dots dropped where the provider ignores them (Gmail)."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def email_domain(email: str) -> str:
    return email.strip().lower().rpartition("@")[2]


# --- ports -------------------------------------------------------------------------------------
class DisposableDomains(Protocol):
    def is_disposable(self, domain: str) -> bool:
        """True for a throwaway-mail domain (or a subdomain of one)."""


class ReferralRepository(Protocol):
    def code_of(self, user_id: str) -> str | None: ...
    def add_code(self, user_id: str, code: str, now: datetime) -> None:
        """DuplicateRecord when the code (or the user's code) exists."""

    def user_of_code(self, code: str) -> str | None: ...
    def lock_referrer(self, referrer_id: str) -> None:
        """Lock the referrer's code row until the unit of work ends (serialises the cap)."""

    def add(self, referral: Referral) -> None: ...
    def update(self, referral: Referral) -> None: ...
    def of_referee(self, referee_id: str, *, for_update: bool = False) -> Referral | None: ...
    def of_payment(self, payment_id: str, *, for_update: bool = False) -> Referral | None: ...
    def get(self, referral_id: str, *, for_update: bool = False) -> Referral | None: ...
    def of_referrer(self, referrer_id: str, *, limit: int) -> list[Referral]:
        """The referrer's referrals, newest first."""

    def totals(self, referrer_id: str) -> dict[str, tuple[int, int]]:
        """status -> (count, sum of bonus) for the referrer's referrals."""

    def qualified_between(self, referrer_id: str, start: datetime, end: datetime) -> int:
        """Referrals of the referrer that got a bonus (pending, released or voided) with qualified_at in [start, end)."""

    def unfinished(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending referrals due for release (release_after <= now) or missing a ledger step."""

    def customer_ids_of(self, user_id: str) -> set[str]:
        """The payment provider's customer ids the user has paid with."""

    def card_fingerprints_of(self, user_id: str) -> set[str]:
        """The fingerprints of the cards the user's payments were made with (as far as known)."""


class _Users(Protocol):
    def get(self, user_id: str) -> User | None: ...


class _Payment(Protocol):
    @property
    def status(self) -> Any: ...


class _Payments(Protocol):
    def get_payment(self, payment_id: str, *, for_update: bool = False) -> Any: ...


class ReferralUnitOfWork(UnitOfWork, Protocol):
    @property
    def referrals(self) -> ReferralRepository: ...
    @property
    def users(self) -> _Users: ...
    @property
    def billing(self) -> _Payments: ...


# --- use cases ---------------------------------------------------------------------------------
class Referrals:
    """Also billing's PurchaseHooks (`paid`, `reversed`)."""

    def __init__(
        self,
        *,
        uow: Callable[[], ReferralUnitOfWork],
        ledger: CreditGrants,
        clock: Clock,
        ids: IdGenerator,
        disposable: DisposableDomains,
        policy: ReferralPolicy | None = None,
    ) -> None:
        self._uow, self._ledger, self._clock, self._ids = uow, ledger, clock, ids
        self._disposable = disposable
        self.policy = policy or ReferralPolicy()

    # --- codes -----------------------------------------------------------------------------
    def code_for(self, user_id: str) -> str:
        """The user's code, made on first use (a clash with another code draws again)."""
        with self._uow() as uow:  # a read (most calls): on MariaDB it goes on in the request's next unit
            code = uow.referrals.code_of(user_id)
        if code is not None:
            return code

        def code_of(uow: ReferralUnitOfWork) -> str:
            code = uow.referrals.code_of(user_id)
            if code is None:  # a new random draw on every try
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                uow.referrals.add_code(user_id, code, self._clock.now())
            return code

        for _ in range(8):
            try:
                return transaction(self._uow, code_of)
            except DuplicateRecord:
                continue  # the code was taken, or a concurrent request made this user's: read again
        raise AssertionError("eight random codes in a row were taken")

    def check_code(self, code: str | None) -> str | None:
        """The referrer of `code`, or None. Decision: an unknown code never blocks a sign-up (a
        mangled link must not cost a customer) and is not reported (no code enumeration)."""
        if code is None or not _CODE.match(code.strip()):
            return None
        with self._uow() as uow:
            return uow.referrals.user_of_code(code.strip().upper())

    def summary(self, user_id: str) -> ReferralSummary:
        code = self.code_for(user_id)
        with self._uow() as uow:
            totals = uow.referrals.totals(user_id)
        return ReferralSummary(
            code=code,
            link=self.policy.link_base + code,
            referred_count=sum(c for c, _ in totals.values()),
            pending_credits=totals.get(ReferralStatus.PENDING.value, (0, 0))[1],
            credits_earned=totals.get(ReferralStatus.RELEASED.value, (0, 0))[1],
        )

    def of_referrer(self, user_id: str, limit: int = 200) -> list[Referral]:
        with self._uow() as uow:
            return uow.referrals.of_referrer(user_id, limit=limit)

    # --- sign-up (identity calls this after registering) ----------------------------------
    def record_signup(self, referee: User, referrer_id: str | None) -> Referral | None:
        """Record who referred the new user; the rules that need only emails are applied now."""
        if referrer_id is None or referrer_id == referee.id:
            return None
        return transaction(self._uow, lambda uow: self._record_signup(uow, referee, referrer_id))

    def _record_signup(self, uow: ReferralUnitOfWork, referee: User, referrer_id: str) -> Referral | None:
        now = self._clock.now()
        referrer = uow.users.get(referrer_id)
        if referrer is None or uow.referrals.of_referee(referee.id) is not None:
            return None
        reason = None
        if canonical_email(referee.email) == canonical_email(referrer.email):
            reason = "same_email"
        elif self._disposable.is_disposable(email_domain(referee.email)):
            reason = "disposable_email"
        referral = Referral(
            id=self._ids.new_id("ref"),
            referrer_id=referrer_id,
            referee_id=referee.id,
            status=ReferralStatus.INELIGIBLE if reason else ReferralStatus.SIGNED_UP,
            reason=reason,
            created_at=now,
            updated_at=now,
        )
        uow.referrals.add(referral)
        return referral

    # --- billing's hooks -------------------------------------------------------------------
    def paid(
        self,
        payment_id: str,
        user_id: str,
        customer_id: str | None,
        amount_cents: int,
        card_fingerprint: str | None = None,
    ) -> None:
        """The referee's first paid purchase starts the hold (later purchases change nothing). Told
        again when the purchase's card becomes known: a card the referrer paid with voids the bonus."""
        if amount_cents <= 0:
            return
        referral_id = transaction(
            self._uow, lambda uow: self._qualify(uow, payment_id, user_id, customer_id, card_fingerprint)
        )
        if referral_id is not None:
            self._finish(referral_id)
        if card_fingerprint:
            voided = transaction(self._uow, lambda uow: self._void(uow, payment_id, "same_card", card_fingerprint))
            if voided is not None:
                self._void_in_ledger(voided)

    def _qualify(
        self, uow: ReferralUnitOfWork, payment_id: str, user_id: str, customer_id: str | None, card: str | None
    ) -> str | None:
        now = self._clock.now()
        # Locking reads first: the cap's count must be read after the referrer's lock, so that
        # it sees every qualifier committed before it (READ COMMITTED reads what is committed
        # when each statement runs; under REPEATABLE READ the snapshot is the first plain read).
        referral = uow.referrals.of_referee(user_id, for_update=True)
        if referral is None or referral.status is not ReferralStatus.SIGNED_UP:
            return None
        uow.referrals.lock_referrer(referral.referrer_id)  # serialises the referrer's qualifiers
        referral.payment_id, referral.qualified_at, referral.updated_at = payment_id, now, now
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        if customer_id and customer_id in uow.referrals.customer_ids_of(referral.referrer_id):
            referral.status, referral.reason = ReferralStatus.INELIGIBLE, "same_customer"
        elif card and card in uow.referrals.card_fingerprints_of(referral.referrer_id):
            referral.status, referral.reason = ReferralStatus.INELIGIBLE, "same_card"
        elif uow.referrals.qualified_between(referral.referrer_id, start, end) >= self.policy.monthly_cap:
            referral.status, referral.reason = ReferralStatus.INELIGIBLE, "monthly_cap"
        elif self.policy.bonus <= 0 and self.policy.referee_bonus <= 0:
            referral.status, referral.reason = ReferralStatus.INELIGIBLE, "no_bonus"
        else:
            referral.status = ReferralStatus.PENDING
            referral.bonus, referral.referee_bonus = self.policy.bonus, self.policy.referee_bonus
            referral.release_after = now + timedelta(days=self.policy.hold_days)
        uow.referrals.update(referral)
        return referral.id if referral.status is ReferralStatus.PENDING else None

    def _finish(self, referral_id: str) -> None:
        """The ledger steps of a pending referral that are not done yet (idempotent keys)."""
        with self._uow() as uow:
            referral = uow.referrals.get(referral_id)
        if referral is None or referral.status is not ReferralStatus.PENDING:
            return
        pending_id, referee_grant = referral.pending_grant_id, referral.referee_grant_id
        if pending_id is None and referral.bonus > 0:
            pending_id = self._ledger.add_pending_grant(
                referral.referrer_id,
                source=GrantSource.REFERRAL,
                amount=referral.bonus,
                idempotency_key=f"referral:{referral.id}",
                reference=f"referral:{referral.id}",
            )
        if referee_grant is None and referral.referee_bonus > 0:
            referee_grant = self._ledger.grant(
                referral.referee_id,
                source=GrantSource.REFERRAL,
                amount=referral.referee_bonus,
                idempotency_key=f"referral-welcome:{referral.id}",
                reference=f"referral:{referral.id}",
            ).grant_id

        def record_ids(uow: ReferralUnitOfWork) -> Referral:  # the ids the keyed ledger calls returned
            locked = uow.referrals.get(referral_id, for_update=True)
            assert locked is not None
            locked.pending_grant_id, locked.referee_grant_id = pending_id, referee_grant
            locked.updated_at = self._clock.now()
            uow.referrals.update(locked)
            return locked

        locked = transaction(self._uow, record_ids)
        if locked.status is ReferralStatus.VOIDED:  # reversed while the ledger steps ran
            self._void_in_ledger(locked)

    def reversed(self, payment_id: str) -> None:
        """A refund or dispute of the first purchase voids the pending bonus (and takes back what
        is left of the referee's). After the release nothing changes: the hold was the wait."""
        referral = transaction(self._uow, lambda uow: self._void(uow, payment_id, "reversed"))
        if referral is not None:
            self._void_in_ledger(referral)

    def _void(self, uow: ReferralUnitOfWork, payment_id: str, reason: str, card: str | None = None) -> Referral | None:
        """Void the pending bonus of this purchase (for `same_card`: only when `card` is one the
        referrer paid with); the referral when it is voided, else None."""
        referral = uow.referrals.of_payment(payment_id, for_update=True)
        if referral is None:
            return None
        if card is not None and (
            referral.status is not ReferralStatus.PENDING
            or card not in uow.referrals.card_fingerprints_of(referral.referrer_id)
        ):
            return None
        if referral.status is ReferralStatus.PENDING:
            referral.status, referral.reason, referral.updated_at = ReferralStatus.VOIDED, reason, self._clock.now()
            uow.referrals.update(referral)
        return referral if referral.status is ReferralStatus.VOIDED else None

    def _void_in_ledger(self, referral: Referral) -> None:
        if referral.pending_grant_id is not None:
            try:
                self._ledger.void_pending_grant(
                    referral.pending_grant_id, idempotency_key=f"referral-void:{referral.id}"
                )
            except PendingGrantClosed:
                pass  # released first (a release and a refund raced): the release stands
        if referral.referee_grant_id is not None:
            self._ledger.reverse_grant(
                referral.referee_grant_id,
                amount=referral.referee_bonus,
                reason=f"referral:{referral.id} reversed",
                idempotency_key=f"referral-welcome-reversal:{referral.id}",
            )

    # --- the periodic release ----------------------------------------------------------------
    def release_due(self, limit: int = 500) -> int:
        """Release the bonuses whose purchase stood through the hold; finish interrupted steps."""
        with self._uow() as uow:
            ids = uow.referrals.unfinished(self._clock.now(), limit)
        released = 0
        for referral_id in ids:
            self._finish(referral_id)
            released += self._release(referral_id)
        return released

    def _release(self, referral_id: str) -> int:
        now = self._clock.now()
        with self._uow() as uow:
            referral = uow.referrals.get(referral_id)
            payment = uow.billing.get_payment(referral.payment_id or "") if referral else None
        if referral is None or referral.status is not ReferralStatus.PENDING or referral.release_after is None:
            return 0
        if referral.release_after > now:
            return 0
        if payment is None or str(getattr(payment.status, "value", payment.status)) != "paid":
            self.reversed(referral.payment_id or "")  # refunded or disputed, the event not yet handled
            return 0
        card = getattr(payment, "card_fingerprint", None)
        if card:  # the referrer's card may have become known after the purchase: check once more
            voided = transaction(self._uow, lambda uow: self._void(uow, payment.id, "same_card", card))
            if voided is not None:
                self._void_in_ledger(voided)
                return 0
        if referral.pending_grant_id is not None:
            try:
                self._ledger.release_pending_grant(
                    referral.pending_grant_id, idempotency_key=f"referral-release:{referral.id}"
                )
            except PendingGrantClosed:
                return 0

        def released(uow: ReferralUnitOfWork) -> int:  # decided on the locked row: a rerun changes nothing more
            locked = uow.referrals.get(referral_id, for_update=True)
            if locked is None or locked.status is not ReferralStatus.PENDING:
                return 0
            locked.status, locked.updated_at = ReferralStatus.RELEASED, now
            uow.referrals.update(locked)
            return 1

        return transaction(self._uow, released)

    def pending_status(self, referral: Referral) -> PendingStatus | None:
        if referral.pending_grant_id is None:
            return None
        for pending in self._ledger.pending_grants(referral.referrer_id):
            if pending.id == referral.pending_grant_id:
                return pending.status
        return None
