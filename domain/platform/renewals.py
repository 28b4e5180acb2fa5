"""`subscription_renewing`: a daily scan tells each subscriber a few days before their plan renews.

The scan takes the live subscriptions (active or trialing, not set to cancel) whose period ends in
(now, now + notice]: a window of `SUBSCRIPTION_RENEWAL_NOTICE_DAYS` (3) days, wider than the day
between two runs, so a missed run is caught up by the next while the renewal is still ahead.

Once per renewal period: the notification's dedupe key is (subscription, period end), unique in
storage. A second run, or two runs at once on two hosts, finds the key taken (the second insert
waits for the first transaction and then fails on the unique key) and notifies nobody again; the
email is queued through the outbox only by the run whose insert won. A renewal moves the period
end, so the next period gets its own notice.

Decisions: `past_due` is left out (its renewal is already failing: the user hears `payment_failed`);
a subscription set to cancel at period end gets `subscription_cancelled` instead. No webhook event
(the catalogue has none for it; `subscription.updated` says what changed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from domain.billing.model import Subscription
from domain.billing.ports import BillingRepository
from domain.platform.notifications import Notifications
from domain.platform.webhooks_ports import PlatformEventsUnitOfWork
from domain.shared.clock import Clock
from domain.shared.uow import transaction

PAGE = 200


class RenewalsUnitOfWork(PlatformEventsUnitOfWork, Protocol):
    @property
    def billing(self) -> BillingRepository: ...


def announce_renewals(
    uow: Callable[[], RenewalsUnitOfWork], notifications: Notifications, clock: Clock, *, notice_days: int
) -> int:
    """Notify every subscription renewing within `notice_days`; return how many were notified now."""
    now = clock.now()
    until = now + timedelta(days=notice_days)
    notified = 0
    after: str | None = None
    while True:

        def page(unit: RenewalsUnitOfWork, after: str | None = after) -> tuple[int, list[Subscription]]:
            subscriptions = unit.billing.subscriptions_renewing(now, until, after_user=after, limit=PAGE)
            return sum(1 for s in subscriptions if _notify(unit, notifications, s)), subscriptions

        sent, subscriptions = transaction(uow, page)
        notified += sent
        if len(subscriptions) < PAGE:
            return notified
        after = subscriptions[-1].user_id


def _notify(unit: RenewalsUnitOfWork, notifications: Notifications, s: Subscription) -> bool:
    assert s.current_period_end is not None  # the query asks for a period end in the window
    day = s.current_period_end.date().isoformat()
    return notifications.notify(
        unit,
        s.user_id,
        "subscription_renewing",
        title="Your subscription renews soon",
        body=f"Your {s.plan_id} plan renews on {day}. To change or cancel it, open the billing portal before then.",
        dedupe_key=f"{s.provider_id}:{s.current_period_end.isoformat()}",
        data={"plan_id": s.plan_id, "renews_at": s.current_period_end.isoformat()},
    )
