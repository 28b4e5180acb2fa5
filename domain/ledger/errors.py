from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound


class InsufficientCredits(DomainError):
    code = "insufficient_credits"

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"Need {needed} credits, {available} available.",
            details={"needed": needed, "available": available},
        )


class WorkspaceBudgetExceeded(InsufficientCredits):
    """Issue 23: the workspace's monthly cap has less room than the spend (402)."""

    code = "workspace_budget_exceeded"

    def __init__(self, needed: int, available: int) -> None:
        DomainError.__init__(
            self,
            f"Need {needed} credits, {available} left in the workspace's monthly budget.",
            details={"needed": needed, "available": available},
        )


class MemberBudgetExceeded(InsufficientCredits):
    """Issue 23: the member's monthly cap in the workspace has less room than the spend (402)."""

    code = "member_budget_exceeded"

    def __init__(self, needed: int, available: int) -> None:
        DomainError.__init__(
            self,
            f"Need {needed} credits, {available} left in your monthly budget in this workspace.",
            details={"needed": needed, "available": available},
        )


class AccountNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No credit account.")


class GrantNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such grant.")


class HoldNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such hold.")


class HoldNotActive(Conflict):
    code = "hold_not_active"


class HoldExpired(Conflict):
    code = "hold_expired"


class UnknownFeature(InvalidInput):
    def __init__(self, feature_key: str) -> None:
        super().__init__(f"Unknown feature {feature_key!r}.", details={"feature_key": "Not in the price list."})


class SweepIncomplete(DomainError):
    """A periodic sweep finished every account it could; these ones failed (the job fails visibly)."""

    code = "sweep_incomplete"

    def __init__(self, done: int, failed: list[str]) -> None:
        super().__init__(
            f"{len(failed)} account(s) failed during the sweep ({done} items done): {', '.join(failed[:10])}",
            details={"done": done, "failed": failed[:100]},
        )


class PendingGrantNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such pending grant.")


class PendingGrantClosed(Conflict):
    """Release after a void, or void after a release: the first end stands."""

    code = "pending_grant_closed"
