"""Workspace budgets under random sequences (issue 23): a Hypothesis state machine shared by the
memory (tests/unit) and SQL (tests/integration) runs.

Members join and leave, caps and the owner's balance change, while holds (on members' behalf,
through the ledger's `budget` scope), captures, voids, plain charges and hold expiry run. A model
keeps what each level should have used; after every step:
- each level's stored usage equals the model's (held plus captured this month);
- no level is over its cap: usage <= the cap, or -- when a cap was lowered below what was already
  used -- at most what was used then (a lowered cap takes nothing back, lets nothing more in);
- a hold succeeded exactly when the balance, the workspace's room and the member's room all
  covered it, and a refusal named the level with the least room (checked at each hold);
- the ledger's invariants hold (`Ledger.check_invariants`).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from domain.coaching.members import Membership
from domain.coaching.model import Role, Workspace
from domain.identity.model import Role as UserRole
from domain.identity.model import User
from domain.ledger.budgets import WORKSPACE_LEVEL, BudgetScope
from domain.ledger.errors import InsufficientCredits, MemberBudgetExceeded, WorkspaceBudgetExceeded
from domain.ledger.services import Ledger
from domain.shared.clock import ManualClock
from tests.helpers import T0
from tests.ledger_support import PRICES, NamespacedIds

caps = st.none() | st.integers(0, 300)
MEMBERS = ("m1", "m2", "m3")
HOLD_TTL = 600


def make_team(uow_factory: Any, ns: str, owner: str, workspace_id: str, members: dict[str, int | None]) -> None:
    """Users, the owner's workspace and memberships, stored as the HTTP routes would leave them."""
    with uow_factory() as uow:
        for user_id in (owner, *members):
            uow.users.add(User(id=user_id, email=f"{user_id}@{ns}.example.com", password_hash="x", role=UserRole.USER,
                               plan="free", created_at=T0, updated_at=T0))  # fmt: skip
        uow.coaching.add_workspace(Workspace(id=workspace_id, owner_id=owner, name="W", created_at=T0, updated_at=T0))
        for user_id, cap in members.items():
            uow.teams.add_member(Membership(workspace_id, user_id, Role.MEMBER, T0, cap))
        uow.commit()


class BudgetMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def make_uow(self) -> Any:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.ids = NamespacedIds()
        ns = self.ids.namespace
        self.uow = self.make_uow()
        self.ledger = Ledger(uow=self.uow, clock=self.clock, ids=self.ids, prices=PRICES, default_hold_ttl=HOLD_TTL)
        self.owner, self.ws = f"usr_o{ns}", f"wsp_{ns}"
        self.people = {name: f"usr_{name}{ns}" for name in MEMBERS}
        self.ledger.open_account(self.owner)
        make_team(self.uow, ns, self.owner, self.ws, {uid: None for uid in self.people.values()})
        self.ws_cap: int | None = None
        self.member_caps: dict[str, int | None] = {uid: None for uid in self.people.values()}
        self.in_team = set(self.people.values())
        self.ceiling: dict[str, int] = {}  # level -> what a lowered cap left in place
        self.used: dict[str, int] = {}  # level (WORKSPACE_LEVEL or a user id) -> model usage this month
        self.active: dict[str, tuple[str, int, Any]] = {}  # hold id -> (member, reserved, expires_at)
        self.counter = 0

    def key(self) -> str:
        self.counter += 1
        return f"b{self.counter}"

    def month(self) -> str:
        return self.clock.now().strftime("%Y-%m")

    # --- what the team and the owner change --------------------------------------------------
    @initialize(amount=st.integers(50, 800))
    def fund(self, amount: int) -> None:
        self.ledger.grant(self.owner, source="purchase", amount=amount, idempotency_key=self.key())

    @rule(amount=st.integers(1, 300))
    def grant(self, amount: int) -> None:
        self.ledger.grant(self.owner, source="promo", amount=amount, idempotency_key=self.key())

    @rule(feature=st.sampled_from(sorted(PRICES.prices)), quantity=st.integers(1, 4))
    def plain_charge(self, feature: str, quantity: int) -> None:
        """The owner's own spending outside the workspace: no budget, only the balance."""
        self.release_due()
        try:
            self.ledger.charge(self.owner, feature_key=feature, quantity=quantity, idempotency_key=self.key())
        except InsufficientCredits:
            assert PRICES.cost(feature, quantity) > self.ledger.balance(self.owner).available

    @rule(cap=caps)
    def set_workspace_cap(self, cap: int | None) -> None:
        with self.uow() as uow:
            workspace = uow.coaching.get_workspace(self.ws)
            workspace.monthly_credit_limit = cap
            uow.coaching.update_workspace(workspace)
            uow.commit()
        self.ws_cap = cap
        self.ceiling[WORKSPACE_LEVEL] = max(cap or 0, self.used.get(WORKSPACE_LEVEL, 0))

    @rule(name=st.sampled_from(MEMBERS), cap=caps)
    def set_member_cap(self, name: str, cap: int | None) -> None:
        uid = self.people[name]
        if uid not in self.in_team:
            return
        with self.uow() as uow:
            membership = uow.teams.get_member(self.ws, uid)
            membership.monthly_credit_limit = cap
            uow.teams.update_member(membership)
            uow.commit()
        self.member_caps[uid] = cap
        self.ceiling[uid] = max(cap or 0, self.used.get(uid, 0))

    @rule(name=st.sampled_from(MEMBERS))
    def leave_or_rejoin(self, name: str) -> None:
        uid = self.people[name]
        with self.uow() as uow:
            if uid in self.in_team:
                uow.teams.remove_member(self.ws, uid)
            else:
                uow.teams.add_member(Membership(self.ws, uid, Role.MEMBER, self.clock.now(), None))
            uow.commit()
        self.in_team ^= {uid}
        self.member_caps[uid] = None  # a removed member has no cap row; one who rejoins starts uncapped

    @rule(minutes=st.integers(1, 15))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        self.ledger.release_expired_holds()
        self.release_due()

    def release_due(self) -> None:
        """Holds past their TTL are released by whatever touches the account next (or the sweep)."""
        now = self.clock.now()
        for hold_id, (member, reserved, expires_at) in list(self.active.items()):
            if expires_at <= now:
                self.give_back(member, reserved)
                del self.active[hold_id]

    def give_back(self, member: str, credits: int) -> None:
        for level in (WORKSPACE_LEVEL, member):
            self.used[level] = self.used.get(level, 0) - credits

    # --- spending in the workspace -----------------------------------------------------------
    @rule(target=holds, who=st.sampled_from(("owner", *MEMBERS)), amount=st.integers(1, 150))
    def hold(self, who: str, amount: int) -> Any:
        return self._hold(who, lambda room: amount)

    @rule(target=holds, who=st.sampled_from(("owner", *MEMBERS)), step=st.sampled_from((-1, 0, 1)))
    def hold_at_the_edge(self, who: str, step: int) -> Any:
        """A hold of exactly the room left, one less or one more: where `>` and `>=` differ."""
        return self._hold(who, lambda room: max(1, room + step))

    def _hold(self, who: str, amount_for: Any) -> Any:
        member = self.owner if who == "owner" else self.people[who]
        self.release_due()  # the hold's own call releases expired holds first
        rooms = [(self.ledger.balance(self.owner).available, InsufficientCredits)]
        if self.ws_cap is not None:
            rooms.append((self.ws_cap - self.used.get(WORKSPACE_LEVEL, 0), WorkspaceBudgetExceeded))
        member_cap = self.member_caps.get(member) if member in self.in_team else None
        if member_cap is not None:
            rooms.append((member_cap - self.used.get(member, 0), MemberBudgetExceeded))
        room, refusal = min(rooms, key=lambda r: r[0])
        amount = amount_for(room)
        try:
            movement = self.ledger.hold(self.owner, amount=amount, idempotency_key=self.key(),
                                        budget=BudgetScope(self.ws, member))  # fmt: skip
        except InsufficientCredits as refused:
            assert amount > room and type(refused) is refusal, (amount, room, refusal, refused)
            assert refused.details["available"] == max(room, 0)
            return None
        assert amount <= room, (amount, room, refusal)
        for level in (WORKSPACE_LEVEL, member):
            self.used[level] = self.used.get(level, 0) + amount
        hold = movement.hold
        self.active[hold.id] = (member, amount, hold.expires_at)
        return hold.id

    @rule(hold_id=consumes(holds), share=st.integers(0, 4))
    def capture(self, hold_id: str | None, share: int) -> None:
        self.release_due()
        if hold_id is None or hold_id not in self.active:
            return
        member, reserved, _ = self.active.pop(hold_id)
        amount = reserved * share // 4
        self.ledger.capture(self.owner, hold_id, amount=amount, idempotency_key=self.key())
        self.give_back(member, reserved - amount)

    @rule(hold_id=consumes(holds))
    def void(self, hold_id: str | None) -> None:
        self.release_due()
        if hold_id is None or hold_id not in self.active:
            return
        member, reserved, _ = self.active.pop(hold_id)
        self.ledger.void(self.owner, hold_id, idempotency_key=self.key())
        self.give_back(member, reserved)

    # --- after every step ----------------------------------------------------------------------
    @invariant()
    def usage_is_what_the_model_says_and_no_level_is_over_its_cap(self) -> None:
        with self.uow() as uow:
            stored = uow.budgets.usage_of_month(self.ws, self.month())
        model = {level: used for level, used in self.used.items() if used}
        assert {level: used for level, used in stored.items() if used} == model
        if self.ws_cap is not None:
            assert stored.get(WORKSPACE_LEVEL, 0) <= max(self.ws_cap, self.ceiling.get(WORKSPACE_LEVEL, 0))
        for uid, cap in self.member_caps.items():
            if cap is not None and uid in self.in_team:
                assert stored.get(uid, 0) <= max(cap, self.ceiling.get(uid, 0))

    @invariant()
    def the_ledger_invariants_hold(self) -> None:
        assert self.ledger.check_invariants(self.owner) == []
