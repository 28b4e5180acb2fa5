"""What a chat message costs: `coach.message` credits plus `coach.tokens_1k` per thousand tokens
(prompt + reply), times the coach's price multiplier, rounded up to a whole credit.

Before the model is called the reply's size is unknown, so the hold is priced at the reply's
cap (`max_tokens`). The cap is always set: when the caller cannot afford the coach's full cap,
it shrinks to the largest affordable one, down to `minimum`; below that it is 402 before any
model call. The capture is priced at the tokens actually used and never exceeds the hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from domain.ledger.errors import InsufficientCredits


@dataclass(frozen=True, slots=True)
class ChatPricing:
    base: int  # credits per message (coach.message)
    per_1k: int  # credits per 1000 tokens (coach.tokens_1k)

    def cost(self, tokens: int, multiplier: Fraction = Fraction(1)) -> int:
        return math.ceil(multiplier * (self.base * 1000 + self.per_1k * tokens) / 1000)

    def affordable_cap(
        self,
        prompt_tokens: int,
        cap: int,
        minimum: int,
        available: int,
        multiplier: Fraction = Fraction(1),
        refusal: InsufficientCredits | None = None,
    ) -> int:
        """The largest reply cap in [minimum, cap] whose estimate fits `available`, else 402 (of the
        `refusal`'s kind: the balance, or a workspace's or member's budget that binds; issue 23)."""
        minimum = min(minimum, cap)
        if self.cost(prompt_tokens + cap, multiplier) <= available:
            return cap
        # ceil(x) <= n  <=>  x <= n for a whole n: solve m * (base*1000 + per_1k*(p + c)) / 1000 <= available.
        if self.per_1k > 0 and multiplier > 0:
            budget = Fraction(available * 1000) / multiplier - self.base * 1000
            largest = math.floor(budget / self.per_1k) - prompt_tokens
            if largest >= minimum:
                return min(largest, cap)
        kind = type(refusal) if refusal is not None else InsufficientCredits
        raise kind(needed=self.cost(prompt_tokens + minimum, multiplier), available=available)
