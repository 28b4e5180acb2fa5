"""A stored answer's charge: captured (or its capture replayed), replayed for a repeated key, charged
before its session is deleted, and swept when an earlier release stored it before capturing it.
The chat's saga is in chat.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from domain.coaching.model import Message
from domain.coaching.policy import Action
from domain.coaching.ports import CoachingUnitOfWork
from domain.coaching.services.base import CoachingConfig, access_within
from domain.coaching.services.results import Exchange
from domain.coaching.services.sessions import own_session
from domain.ledger.errors import HoldExpired, HoldNotActive, HoldNotFound, SweepIncomplete
from domain.ledger.ports import CreditHolds
from domain.ledger.results import BalanceSnapshot, Movement
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, IdempotencyConflict, OutcomeUnknown, TransientError, Unavailable
from domain.shared.uow import retrying_unavailable, transaction

log = logging.getLogger(__name__)
DELETE_ROUNDS = 3
CAPTURE_BACKOFF = (0.2, 0.5)  # seconds between attempts: a short database blip passes within the request


def capture_key(hold_id: str) -> str:
    """The ledger key of an answer's capture: one per hold, whichever path captures it."""
    return f"coach:capture:{hold_id}"


class AnswerSettlement:
    def __init__(
        self, *, uow: Callable[[], CoachingUnitOfWork], ledger: CreditHolds, clock: Clock, config: CoachingConfig
    ) -> None:
        self._uow, self._ledger, self._clock, self._config = uow, ledger, clock, config

    def capture(
        self, user_id: str, answer: Message, fallback: BalanceSnapshot | None = None
    ) -> tuple[Message, BalanceSnapshot]:
        """Capture the answer's hold at its price (idempotent by the hold's key) and mark it settled.

        The capture is retried a few times within the request (defect 8). An answer stored settled
        was captured with it: this replays the capture by its key for the balance. When the ledger
        cannot be reached and a `fallback` balance is given (the request that stored the answer),
        the answer is returned as it stands with that balance; an unsettled one (an earlier
        release's) is captured by the sweep within `settle_grace` plus one sweep period
        (COACH_HOLD_TTL_SECONDS always outlives that window: entrypoints/config.py). Without a
        fallback the error goes up."""
        balance: BalanceSnapshot | None = None
        charged = answer.credits_charged
        try:
            if answer.hold_id is not None:
                movement = self.capture_hold(user_id, answer.hold_id, charged)
                if movement is None:  # it expired before we could capture: free
                    charged = 0
                else:
                    balance = movement.balance
                    charged = -movement.entry.amount if movement.entry else 0
            if balance is None:
                view = self._ledger.balance(user_id)
                balance = BalanceSnapshot(view.balance, view.held, view.available)
        except (Unavailable, TransientError, OutcomeUnknown):
            if fallback is None:
                raise
            log.warning("capture deferred to the sweep", extra={"hold_id": answer.hold_id})
            return answer, fallback
        if not answer.settled or charged != answer.credits_charged:
            answer = replace(answer, settled=True, credits_charged=charged)
            try:  # the capture above committed on its own; this marks the answer settled
                transaction(self._uow, lambda uow: uow.coaching.update_message(answer))
            except (Unavailable, TransientError):  # the capture stands; the sweep marks it (its key replays)
                if fallback is None:
                    raise
        return answer, balance

    def replay(self, user_id: str, key: str | None, print_: str) -> Exchange | None:
        """The first exchange stored under the Idempotency-Key `key` (its charge captured), or None."""
        if key is None:
            return None
        with self._uow() as uow:
            first = uow.coaching.get_message_by_key(key)
            if first is None:
                return None
            if first.fingerprint != print_:
                raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
            answer = uow.coaching.get_message_by_seq(first.session_id, first.seq + 1)
        if answer is None:  # the session was deleted between the two reads
            return None
        answer, balance = self.capture(answer.account_id or user_id, answer)
        return Exchange(first, answer, answer.credits_charged, balance, replayed=True)

    def capture_hold(self, payer: str, hold_id: str, price: int) -> Movement | None:
        """The hold captured at `price` (at most what it holds) by its key, retried through a
        database blip; None when the hold is gone (expired, voided, or never committed)."""
        try:
            return retrying_unavailable(
                lambda: self._ledger.capture(payer, hold_id, amount=price, idempotency_key=capture_key(hold_id)),
                backoff=CAPTURE_BACKOFF,
            )
        except (HoldExpired, HoldNotActive, HoldNotFound):
            return None

    # --- deleting a session: its unsettled answers are charged first -----------------------------
    def delete_session(self, user_id: str, session_id: str) -> None:
        """Delete a session and its messages, never an answer whose charge is not captured yet.

        The session row is locked first (the first statement: on MariaDB the transaction's snapshot
        is taken after the lock, so it sees every message stored before); unsettled answers are
        captured outside the transaction, then the deletion is tried again. An answer still
        streaming finds the session gone when it stores and is charged for what was sent anyway."""

        def attempt(uow: CoachingUnitOfWork) -> list[Message]:
            """Delete when every answer is settled; else the unsettled ones, with nothing changed."""
            session = uow.coaching.get_session_for_update(session_id)
            workspace = access_within(
                uow, session.workspace_id if session else None, user_id, Action.WRITE, "chat session"
            )
            assert session is not None
            own_session(uow, workspace, session, user_id, others_may=True)
            unsettled = uow.coaching.unsettled_messages_in(session.workspace_id, session_id)
            if not unsettled:
                uow.coaching.delete_session(session_id)
            return unsettled

        for _ in range(DELETE_ROUNDS):
            unsettled = transaction(self._uow, attempt)
            if not unsettled:
                return
            for message in unsettled:
                self.capture(message.account_id or user_id, message)
        raise Conflict("The session's last answers are still being charged; try again.")

    # --- the sweep -------------------------------------------------------------------------------
    def settle_pending_messages(self, limit: int = 100) -> int:
        """Capture stored answers whose capture never happened (stored by a release before one
        transaction did both, or after a crash between the two then)."""
        before = self._clock.now() - timedelta(seconds=self._config.settle_grace)
        with self._uow() as uow:
            pending = uow.coaching.unsettled_messages(before, limit)
        broken = []
        for message in pending:
            try:
                self.capture(message.account_id or "", message)
            except Exception:  # one broken message must not stall the others; the job fails at the end
                broken.append(message.id)
        if broken:
            raise SweepIncomplete(len(pending) - len(broken), broken)
        return len(pending)
