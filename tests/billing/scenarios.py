"""A payment's life as Stripe could tell it (issue 18's property): a Hypothesis strategy for what
really happened to one pack payment, the events Stripe sends for it (with the cumulative figures
Stripe puts in them at the time), and the end state computed from what happened alone.

What happened (the ground truth) is drawn first: how the checkout ended, the refunds asked (each
succeeding or failing), at most one dispute or inquiry and how it closed, in a random timeline.
The events follow from it, one per step, each at its own second. The expected credits come from
the ground truth only, never from the events' order; the tests then deliver the events shuffled,
repeated and concurrently and compare.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from adapters.stripe import events as ev

CREDITS, AMOUNT = 500, 2000  # pack_500
COMPLETIONS = ("paid", "async_ok", "async_fail", "expired", "unpaid")


@dataclass(frozen=True)
class Refund:
    amount: int
    succeeds: bool
    updates: bool  # a charge.refund.updated says `succeeded` too (Stripe sends it for some methods)


@dataclass(frozen=True)
class Dispute:
    inquiry: bool  # a `warning_*` inquiry: takes nothing
    amount: int
    closing: str  # "open" (never closed), "won", "lost"; inquiries close as warning_closed


@dataclass(frozen=True)
class Story:
    completion: str
    refunds: tuple[Refund, ...]
    dispute: Dispute | None
    timeline: tuple[tuple[str, int], ...]  # ("refund", i) | ("refund_end", i) | ("dispute", 0) | ("dispute_end", 0)

    @property
    def paid(self) -> bool:
        return self.completion in ("paid", "async_ok")

    def expected_credits(self) -> int:
        """What the buyer keeps, from what happened alone."""
        if not self.paid:
            return 0
        refunded = sum(r.amount for r in self.refunds if r.succeeds)
        disputed = 0
        if self.dispute is not None and not self.dispute.inquiry and self.dispute.closing in ("open", "lost"):
            disputed = self.dispute.amount
        lost = min(AMOUNT, refunded + disputed)
        return CREDITS if lost == 0 else CREDITS - (CREDITS if lost >= AMOUNT else CREDITS * lost // AMOUNT)

    def expected_status(self) -> str:
        if not self.paid:
            return {"async_fail": "failed", "expired": "expired", "unpaid": "pending"}[self.completion]
        refunded = sum(r.amount for r in self.refunds if r.succeeds)
        d = self.dispute
        if d is not None and not d.inquiry and (d.closing == "open" or (d.closing == "lost" and d.amount + refunded >= AMOUNT)):
            return "disputed"
        if refunded >= AMOUNT:
            return "refunded"
        return "partially_refunded" if refunded else "paid"


@st.composite
def stories(draw: st.DrawFn) -> Story:
    completion = draw(st.sampled_from(COMPLETIONS))
    if completion not in ("paid", "async_ok"):
        return Story(completion, (), None, ())
    refunds: list[Refund] = []
    left = AMOUNT
    for _ in range(draw(st.integers(0, 3))):
        if left <= 0:
            break
        amount = draw(st.sampled_from([left, min(left, 1), min(left, 800), min(left, 333)]))
        refunds.append(Refund(amount, draw(st.booleans()), draw(st.booleans())))
        left -= amount
    dispute = None
    if draw(st.booleans()):
        inquiry = draw(st.booleans())
        dispute = Dispute(inquiry, draw(st.sampled_from([AMOUNT, 1200, 1])),
                          "closed" if inquiry else draw(st.sampled_from(["open", "won", "lost"])))
    steps: list[tuple[str, int]] = [("refund", i) for i in range(len(refunds))]
    steps += [("refund_end", i) for i, r in enumerate(refunds) if not r.succeeds or r.updates]
    if dispute is not None:
        steps.append(("dispute", 0))
        if dispute.closing != "open":
            steps.append(("dispute_end", 0))
    order = list(draw(st.permutations(steps)))
    for start, end in (("refund", "refund_end"), ("dispute", "dispute_end")):  # a thing ends after it began
        for i in range(len(refunds) + 1):
            if (start, i) in order and (end, i) in order:
                a, b = order.index((start, i)), order.index((end, i))
                if b < a:
                    order[a], order[b] = order[b], order[a]
    refund_order = [i for kind, i in order if kind == "refund"]  # refunds are created one after another
    order = [("refund", refund_order.pop(0)) if kind == "refund" else (kind, i) for kind, i in order]
    return Story(completion, tuple(refunds), dispute, tuple(order))


def events_for(story: Story, facts: ev.CheckoutFacts, t0: int) -> list[dict[str, Any]]:
    """Stripe's events for the story, in the order they happened (each at its own second)."""
    out: list[dict[str, Any]] = []
    if story.completion == "paid":
        out.append(ev.checkout_completed(facts, now=t0))
    elif story.completion == "async_ok":
        out += [ev.checkout_completed(facts, now=t0, payment_status="unpaid"),
                ev.checkout_async_payment_succeeded(facts, now=t0 + 1)]
    elif story.completion == "async_fail":
        out += [ev.checkout_completed(facts, now=t0, payment_status="unpaid"),
                ev.checkout_async_payment_failed(facts, now=t0 + 1)]
    elif story.completion == "expired":
        out.append(ev.checkout_expired(facts, now=t0))
    else:
        out.append(ev.checkout_completed(facts, now=t0, payment_status="unpaid"))
    intent = facts.payment_intent
    assert intent is not None
    created_at: dict[int, int] = {}
    failed_by: dict[int, int] = {}
    refunded_before = 0
    for n, (kind, i) in enumerate(story.timeline):
        now = t0 + 10 + n
        if kind == "refund":
            created_at[i] = now
            # Stripe's cumulative figure now: every refund created so far, less those that failed.
            total = sum(story.refunds[j].amount for j in created_at) - sum(story.refunds[j].amount for j in failed_by)
            out.append(ev.charge_refunded(payment_intent=intent, amount_cents=AMOUNT, currency=facts.currency,
                                          amount_refunded=total, previously_refunded=refunded_before, now=now))
            refunded_before = total
        elif kind == "refund_end":
            refund = story.refunds[i]
            status = "succeeded" if refund.succeeds else "failed"
            if not refund.succeeds:
                failed_by[i] = now
            out.append(ev.refund_updated(refund_id=ev.derived_id("re", intent, str(i)), payment_intent=intent,
                                         amount_cents=refund.amount, currency=facts.currency, status=status,
                                         created=created_at[i], now=now))
        else:
            d = story.dispute
            assert d is not None
            opened = t0 + 10 + story.timeline.index(("dispute", 0))
            if kind == "dispute":
                status, type_ = ("warning_needs_response" if d.inquiry else "needs_response"), "charge.dispute.created"
            else:
                status = "warning_closed" if d.inquiry else d.closing
                type_ = "charge.dispute.funds_reinstated" if status == "won" and n % 2 else "charge.dispute.closed"
            out.append(ev.dispute_event(type_, payment_intent=intent, amount_cents=d.amount, currency=facts.currency,
                                        created=opened, now=now, status=status))
    return out


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> list[int]:
    """A delivery order for `count` events: every one at least once, shuffled, some repeated."""
    order = list(draw(st.permutations(range(count))))
    for index in draw(st.lists(st.integers(0, count - 1), max_size=3)):
        order.insert(draw(st.integers(0, len(order))), index)
    return order
