"""Chat sessions and messages with the coach, priced by tokens through a ledger hold.

A message is one saga over several transactions: claim -> hold -> model -> (relay) -> store ->
capture -> settle. The ledger is reached only through the narrow `CreditHolds` port
(domain/ledger/ports.py: hold / capture / void / balance). The rule it keeps (issue 19):
**every reply that reaches the user is paid for exactly once, at most its hold; a reply that does
not reach the user costs nothing; a 503 means nothing was charged.**

| step | key | the process dies here | the database refuses | the user deletes the session or workspace | the same key twice |
| --- | --- | --- | --- | --- | --- |
| 1 claim the Idempotency-Key (`coaching_claims`) | sha256(user, "chat", key) | the claim stays; after `COACH_HOLD_TTL_SECONDS` it is stale and one retry takes it over | 503, nothing held | - | replay when stored; `409 request_in_progress` while the first runs (never a second model call); `409 idempotency_conflict` for another body |
| 2 hold the estimate on the workspace owner's account, within the workspace's and the member's monthly caps (issue 23; shrinking the cap; 402 below the minimum) | `coach:hold:<attempt id>` | the hold expires after its TTL and the ledger's sweep releases it | 503 (or 402); the claim is released | 404 before anything is held | - (claimed) |
| 3 call the model, within `LLM_DEADLINE_SECONDS` (all retries included) | - | as above: nothing charged | - | JSON: step 5 finds no session, voids: nothing was sent, nothing charged | - |
| 4 relay deltas (SSE), heartbeats while the model is silent | - | text sent but nothing stored: the hold expires (see "not covered") | - | the stream goes on; step 5 charges it anyway | - |
| 5 store both messages under the session's row lock; the answer `settled=False`, priced | user message's key (unique) | a stored answer is captured by step 6 of the sweep | JSON: void + release the claim, 503/502, nothing charged. Stream (text sent): capture anyway, then `error` | JSON: void, 404. Stream: capture what was sent (`coach:capture:<hold id>`), then `error not_found` saying so | - |
| 6 capture at the price (<= the hold), retried 3 times in the request | `coach:capture:<hold id>` | `coaching.sweep` captures it after `settle_grace` (60 s), before the hold expires (config refuses a TTL below deadline + 180 s) | deferred to the sweep: 201 with the true charge and the balance it will leave | deleting captures unsettled answers first, under the session (workspace) locks | a replay captures with the same key: charged once |
| 7 mark the answer settled | - | the sweep marks it (its capture key replays) | the sweep marks it | - | - |

Deleting (delete_session, Coaching.delete_workspace): one transaction whose first statement locks
the session (workspace) row, then its sessions; when an answer is still unsettled or a task still
open, it is captured (or the task cancelled and released) outside the transaction and the deletion
tried again (409 after three rounds). A hold trimmed by grant expiry before step 6 charges what is
left of it; the answer's `credits_charged` then says what was really taken.

Not covered: the database down at step 5 *and* 6 of a stream whose text was sent: nothing can
record the charge, the hold expires and that partial reply is free (logged).

Sending a message, in order:
  1. ownership (policy) and limits; a replayed Idempotency-Key returns the first exchange;
  2. price the prompt plus the reply cap and hold that estimate (ledger key `coach:hold:<attempt>`);
     when the hold is refused, shrink the cap to what is available (the refusal says how much),
     down to `min_reply_tokens`, and hold that; below it, 402 before any model call (a refused
     hold writes nothing in the ledger, so an affordable message costs one ledger call here);
  3. call the model with the coach's system prompt, the workspace's active goals and open todos,
     and the newest HISTORY_MAX messages (older ones are dropped);
  4. store both messages in one transaction, the assistant's marked unsettled with its hold id
     and its price (actual tokens, never above the hold); then capture and mark it settled.
A model failure voids the hold (`coach:void:<hold id>`) and stores nothing: 502 llm_unavailable.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TypeVar

from domain.coaching.errors import CoachUnavailable, RequestInProgress
from domain.coaching.model import CONTENT_MAX, HISTORY_MAX, ChatSession, Claim, Coach, Message, check_length
from domain.coaching.policy import Action
from domain.coaching.ports import ChatMessage, ModelSettings, Reply
from domain.coaching.pricing import ChatPricing
from domain.coaching.prompts import chat_messages, prompt_tokens, system_prompt
from domain.coaching.services.base import DEFAULT_COACH, fingerprint, request_key
from domain.coaching.services.results import ChatStream, Delta, Done, Exchange, Failed, SessionView, StreamEvent
from domain.coaching.services.sessions import SessionUseCases
from domain.coaching.tokens import estimate_tokens
from domain.ledger.budgets import BudgetScope
from domain.ledger.errors import HoldExpired, HoldNotActive, HoldNotFound, InsufficientCredits, SweepIncomplete
from domain.ledger.results import BalanceSnapshot
from domain.shared.errors import (
    Conflict, DuplicateRecord, IdempotencyConflict, NotFound, OutcomeUnknown, TransientError, Unavailable,
)
from domain.shared.uow import learn_outcome, retrying_unavailable

__all__ = ["ChatStream", "ChatUseCases", "Delta", "Done", "Exchange", "Failed", "SessionView", "StreamEvent"]

log = logging.getLogger(__name__)
T = TypeVar("T")
FEATURE = "coach.message"


@dataclass(frozen=True, slots=True)
class _Prepared:
    payer: str  # whose credits the hold is on: the workspace's owner (issue 23), not always the sender
    session: ChatSession
    coach: Coach
    content: str
    key: str | None
    fingerprint: str
    messages: list[ChatMessage]
    settings: ModelSettings
    prompt_tokens: int
    estimate: int
    hold_id: str | None
    after_hold: BalanceSnapshot | None = None  # the balance the hold left; predicts the one after capture


class ChatUseCases(SessionUseCases):
    """Sending a message (JSON or streamed) and settling its charge; sessions come from SessionUseCases."""

    # --- one message, all or nothing -------------------------------------------------------------
    def send_message(self, user_id: str, session_id: str, content: str, *,
                     idempotency_key: str | None = None) -> Exchange:  # fmt: skip
        check_length("content", content, CONTENT_MAX, required=True)
        key = request_key(user_id, "chat", idempotency_key) if idempotency_key else None
        print_ = fingerprint({"session": session_id, "content": content})
        # The claim first: a fresh key (the common case) costs one INSERT; a key already used fails it
        # and _claim looks the first exchange up then (claims of stored exchanges are never released).
        replayed = self._claim(user_id, key, print_)
        if replayed is not None:
            return replayed
        prepared = self._prepare_claimed(user_id, session_id, content, key, print_)
        try:
            reply = self._model.reply(prepared.messages, prepared.settings)
        except BaseException:
            self._abandon(prepared)
            raise
        return self._store_and_capture(prepared, reply, sent=False)

    def stream_message(self, user_id: str, session_id: str, content: str, *,
                       idempotency_key: str | None = None) -> Iterator[StreamEvent]:  # fmt: skip
        """Checks, prices and holds now (so 404, 402 and 422 are raised before any event), then
        returns the events: Delta chunks, then one Done, or one Failed with nothing charged."""
        check_length("content", content, CONTENT_MAX, required=True)
        key = request_key(user_id, "chat", idempotency_key) if idempotency_key else None
        print_ = fingerprint({"session": session_id, "content": content})
        # The claim first: a fresh key (the common case) costs one INSERT; a key already used fails it
        # and _claim looks the first exchange up then (claims of stored exchanges are never released).
        replayed = self._claim(user_id, key, print_)
        if replayed is not None:
            return iter([Delta(replayed.assistant_message.content), Done(replayed)])
        prepared = self._prepare_claimed(user_id, session_id, content, key, print_)
        return ChatStream(self._streaming(prepared), on_close_unstarted=lambda: self._abandon(prepared))

    def _streaming(self, prepared: _Prepared) -> Generator[StreamEvent, None, None]:
        """The hold is settled in `finally`, which also runs when the client goes away mid-stream
        (GeneratorExit from the WSGI server closing the iterator): the prompt and the tokens
        already streamed are captured, the rest released, and the partial reply stored as cut short."""
        chunks: list[str] = []
        settled = False
        source = self._model.stream(prepared.messages, prepared.settings)
        try:
            final: Reply | None = None
            try:
                for item in source:
                    if isinstance(item, Reply):
                        final = item
                        break
                    chunks.append(item)
                    yield Delta(item)
            except CoachUnavailable as error:
                if not chunks:
                    settled = True
                    self._abandon(prepared)
                    yield Failed(error.code, error.message)
                    return
            if final is None:  # the stream broke after some text: keep what came, as cut short
                final = self._partial(prepared, chunks)
            # From here settling is _store_and_capture's job, even if it raises: it voids when the
            # store fails, and a capture that fails leaves a stored, unsettled answer for the sweep.
            settled = True
            yield Done(self._store_and_capture(prepared, final, sent=True))
        finally:
            _close(source)
            if not settled:
                self._settle_abandoned(prepared, chunks)

    def _settle_abandoned(self, prepared: _Prepared, chunks: list[str]) -> None:
        try:
            if chunks:
                self._store_and_capture(prepared, self._partial(prepared, chunks), sent=True)
            else:
                self._abandon(prepared)
        except Exception:  # the client is gone: nobody to tell; expiry and the sweep are the backstop
            log.exception("settling an abandoned stream failed", extra={"hold_id": prepared.hold_id})

    def _partial(self, prepared: _Prepared, chunks: list[str]) -> Reply:
        text = "".join(chunks)
        model = prepared.settings.model or prepared.coach.model or "unknown"
        return Reply(text, prepared.prompt_tokens, estimate_tokens(text), model, cut_short=True)

    # --- the steps -------------------------------------------------------------------------------
    def _pricing(self) -> ChatPricing:
        return self.config.pricing

    def _prepare(self, user_id: str, session_id: str, content: str, key: str | None, print_: str) -> _Prepared:
        with self._uow() as uow:
            session = uow.coaching.get_session(session_id)
            workspace = self._within(uow, session.workspace_id if session else None, user_id, Action.WRITE,
                                     "chat session")  # fmt: skip
            assert session is not None
            self._own_session(uow, workspace, session, user_id, others_may=False)  # one talks in one's own
            goals, todos = self._context(uow, workspace.id)
            history = uow.coaching.recent_messages(session_id, HISTORY_MAX)
        coach = self.coaches.get(session.coach) or self.coaches[DEFAULT_COACH]
        messages = chat_messages(system_prompt(coach, workspace, goals, todos), history, content)
        tokens = prompt_tokens(messages)
        multiplier = _multiplier(coach)
        pricing = self._pricing()
        cap = coach.max_reply_tokens
        estimate = pricing.cost(tokens + cap, multiplier)
        # Issue 23: the workspace's owner pays, within the workspace's and the member's monthly caps,
        # all checked in the hold. A refusal at any level (402 naming it) says how much room is left:
        # the cap shrinks to that, as it does to the balance.
        payer, budget = workspace.owner_id, BudgetScope(workspace.id, user_id)
        try:  # the full cap first: no balance read when the caller can afford it (the common case)
            hold_id, after_hold = self._hold(payer, budget, session_id, estimate)
        except InsufficientCredits as short:  # shrink the cap to what is available, down to the minimum
            available = int(short.details["available"])
            cap = pricing.affordable_cap(tokens, cap, self.config.min_reply_tokens, available, multiplier, short)
            estimate = pricing.cost(tokens + cap, multiplier)
            hold_id, after_hold = self._hold(payer, budget, session_id, estimate)  # a concurrent spend may still 402
        settings = ModelSettings(model=coach.model, temperature=coach.temperature, max_tokens=cap)
        return _Prepared(payer, session, coach, content, key, print_, messages, settings, tokens, estimate, hold_id,
                         after_hold)  # fmt: skip

    def _hold(self, payer: str, budget: BudgetScope, session_id: str,
              estimate: int) -> tuple[str | None, BalanceSnapshot | None]:  # fmt: skip
        """Hold `estimate` credits (a refused hold writes nothing in the ledger); None when free."""
        if estimate <= 0:
            return None, None
        movement = self._ledger.hold(
            payer, amount=estimate, idempotency_key=f"coach:hold:{self._ids.new_id('att')}",
            ttl_seconds=self.config.chat_hold_ttl, feature_key=FEATURE, reference=f"chat:{session_id}", budget=budget,
        )  # fmt: skip
        assert movement.hold is not None
        return movement.hold.id, movement.balance

    # --- the Idempotency-Key claim ---------------------------------------------------------------
    def _claim(self, user_id: str, key: str | None, print_: str) -> Exchange | None:
        """Claim `key` before anything is held or asked (saga step 1). None: claimed, go on; an
        Exchange: the first request finished meanwhile (replay it); RequestInProgress (409): it is
        still running. A claim older than the hold's TTL belongs to a request that died (its hold
        has expired): exactly one caller takes it over."""
        if key is None:
            return None
        now = self._clock.now()
        try:
            with self._uow() as uow:
                uow.coaching.add_claim(Claim(key, print_, now))
                uow.commit()
            return None
        except DuplicateRecord:
            pass
        replayed = self._replay_exchange(user_id, key, print_)
        if replayed is not None:
            return replayed
        with self._uow() as uow:
            claim = uow.coaching.get_claim(key)
            if claim is not None and claim.fingerprint != print_:
                raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
            from datetime import timedelta

            stale = claim is not None and claim.created_at <= now - timedelta(seconds=self.config.chat_hold_ttl)
            if stale and claim is not None and uow.coaching.renew_claim(key, claim.created_at, now):
                uow.commit()
                return None
        raise RequestInProgress()

    def _release_claim(self, key: str | None) -> None:
        if key is None:
            return
        try:
            with self._uow() as uow:
                uow.coaching.release_claim(key)
                uow.commit()
        except (Unavailable, TransientError):  # the claim goes stale after the hold's TTL: the key frees then
            log.warning("could not release an Idempotency-Key claim; it frees itself after the hold's TTL")

    def _prepare_claimed(self, user_id: str, session_id: str, content: str, key: str | None,
                         print_: str) -> _Prepared:  # fmt: skip
        try:
            return self._prepare(user_id, session_id, content, key, print_)
        except BaseException:  # 404, 402, ...: nothing held, the key is free again
            self._release_claim(key)
            raise

    def _abandon(self, prepared: _Prepared) -> None:
        """Nothing reached the user: release the hold and the key."""
        self._void(prepared)
        self._release_claim(prepared.key)

    # --- store and capture -----------------------------------------------------------------------
    def _store_and_capture(self, prepared: _Prepared, reply: Reply, *, sent: bool) -> Exchange:
        used = self._pricing().cost(reply.tokens_in + reply.tokens_out, _multiplier(prepared.coach))
        now = self._clock.now()
        user_message = Message(
            id=self._ids.new_id("msg"), session_id=prepared.session.id, seq=0, role="user",
            content=prepared.content, created_at=now, idempotency_key=prepared.key,
            fingerprint=prepared.fingerprint, account_id=prepared.payer,
        )  # fmt: skip
        answer = Message(
            id=self._ids.new_id("msg"), session_id=prepared.session.id, seq=0, role="assistant", content=reply.text,
            created_at=now, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out,
            credits_charged=min(used, prepared.estimate), model=reply.model, cut_short=reply.cut_short,
            hold_id=prepared.hold_id, settled=prepared.hold_id is None, account_id=prepared.payer,
        )  # fmt: skip
        try:
            user_message, answer = self._store_knowing_the_outcome(prepared.session.id, user_message, answer)
        except DuplicateRecord:  # a stale claim was taken over and the first request stored after all
            self._void(prepared)
            replayed = self._replay_exchange(prepared.payer, prepared.key, prepared.fingerprint)
            if replayed is None:
                raise
            return replayed
        except BaseException as error:
            if not sent and isinstance(error, OutcomeUnknown):
                # Stored or not, nobody can tell now: keep the hold. If the answer was stored the
                # sweep captures it; if not, the hold expires. Never a stored answer with a void hold.
                raise
            if not sent:  # the user saw nothing: nothing is charged
                self._abandon(prepared)
                raise
            # Defect 1: the text already left (the session was deleted meanwhile, or storing failed):
            # what was sent is charged, stored or not.
            charged = self._capture_unstored(prepared, answer.credits_charged)
            if isinstance(error, NotFound):
                raise NotFound(f"The chat session was deleted while the answer streamed; the {charged} credits "
                               "for what was sent were charged.") from error  # fmt: skip
            raise
        answer, balance = self._capture(prepared.payer, answer, fallback=_predicted(prepared, answer))
        return Exchange(user_message, answer, answer.credits_charged, balance)

    def _capture_unstored(self, prepared: _Prepared, price: int) -> int:
        if prepared.hold_id is None:
            return 0
        try:
            movement = _retrying(lambda: self._ledger.capture(
                prepared.payer, prepared.hold_id or "", amount=price,
                idempotency_key=f"coach:capture:{prepared.hold_id}"))  # fmt: skip
            return -movement.entry.amount if movement.entry else 0
        except (HoldExpired, HoldNotActive, HoldNotFound):
            return 0
        except Exception:  # the database is gone too: the hold expires; logged for the operators
            log.exception("could not charge a streamed reply whose storing failed", extra={"hold_id": prepared.hold_id})
            return 0

    def _store_knowing_the_outcome(self, session_id: str, user_message: Message,
                                   answer: Message) -> tuple[Message, Message]:  # fmt: skip
        """`_store`, and when its COMMIT's answer is lost (issue 20: `OutcomeUnknown`), find out on a
        fresh connection whether the two messages were stored: stored, the request goes on to the
        capture; not stored, it is an ordinary storage failure (`Unavailable`); still unknown, the
        `OutcomeUnknown` goes up and the hold is kept for the sweep or its expiry."""
        try:
            return self._store(session_id, user_message, answer)
        except OutcomeUnknown as unknown:
            recent = learn_outcome(lambda: self._recent(session_id), unknown)
            if answer.id in recent and user_message.id in recent:
                return recent[user_message.id], recent[answer.id]
            raise Unavailable("The answer could not be stored; nothing was charged.") from unknown

    def _recent(self, session_id: str) -> dict[str, Message]:
        with self._uow() as uow:
            return {m.id: m for m in uow.coaching.recent_messages(session_id, STORE_SETTLE_WINDOW)}

    def _store(self, session_id: str, user_message: Message, answer: Message) -> tuple[Message, Message]:
        with self._uow() as uow:
            session = uow.coaching.get_session_for_update(session_id)
            if session is None:
                raise NotFound("The chat session was deleted.")
            user_message = replace(user_message, seq=session.message_count + 1)
            answer = replace(answer, seq=session.message_count + 2)
            uow.coaching.add_message(user_message)
            uow.coaching.add_message(answer)
            session.message_count += 2
            session.updated_at = answer.created_at
            uow.coaching.update_session(session)
            uow.commit()
        return user_message, answer

    def _capture(self, user_id: str, answer: Message,
                 fallback: BalanceSnapshot | None = None) -> tuple[Message, BalanceSnapshot]:  # fmt: skip
        """Capture the answer's hold at its price (idempotent by the hold's key) and mark it settled.

        The capture is retried a few times within the request (defect 8). When the ledger still
        cannot be reached and a `fallback` balance is given (the request that stored the answer),
        the answer is returned as it stands: stored, priced, and charged by the sweep within
        `settle_grace` plus one sweep period (COACH_HOLD_TTL_SECONDS always outlives that window:
        entrypoints/config.py), so the 201 tells the truth. Without a fallback the error goes up."""
        balance: BalanceSnapshot | None = None
        charged = answer.credits_charged
        try:
            if answer.hold_id is not None:
                hold_id = answer.hold_id
                try:
                    movement = _retrying(lambda: self._ledger.capture(
                        user_id, hold_id, amount=charged, idempotency_key=f"coach:capture:{hold_id}"))  # fmt: skip
                    balance = movement.balance
                    charged = movement.entry.amount * -1 if movement.entry else 0
                except (HoldExpired, HoldNotActive, HoldNotFound):  # it expired before we could capture: free
                    charged = 0
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
            try:
                with self._uow() as uow:
                    uow.coaching.update_message(answer)
                    uow.commit()
            except (Unavailable, TransientError):  # the capture stands; the sweep marks it (its key replays)
                if fallback is None:
                    raise
        return answer, balance

    def _void(self, prepared: _Prepared) -> None:
        if prepared.hold_id is None:
            return
        try:
            self._ledger.void(prepared.payer, prepared.hold_id, idempotency_key=f"coach:void:{prepared.hold_id}")
        except (HoldExpired, HoldNotActive, HoldNotFound):
            pass

    def _replay_exchange(self, user_id: str, key: str | None, print_: str) -> Exchange | None:
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
        answer, balance = self._capture(answer.account_id or user_id, answer)
        return Exchange(first, answer, answer.credits_charged, balance, replayed=True)

    # --- deleting a session: its unsettled answers are charged first -----------------------------
    def delete_session(self, user_id: str, session_id: str) -> None:
        """Delete a session and its messages, never an answer whose charge is not captured yet.

        The session row is locked first (the first statement: on MariaDB the transaction's snapshot
        is taken after the lock, so it sees every message stored before); unsettled answers are
        captured outside the transaction, then the deletion is tried again. An answer still
        streaming finds the session gone when it stores and is charged for what was sent anyway."""
        for _ in range(DELETE_ROUNDS):
            with self._uow() as uow:
                session = uow.coaching.get_session_for_update(session_id)
                workspace = self._within(uow, session.workspace_id if session else None, user_id, Action.WRITE,
                                         "chat session")  # fmt: skip
                assert session is not None
                self._own_session(uow, workspace, session, user_id, others_may=True)
                unsettled = uow.coaching.unsettled_messages_in(session.workspace_id, session_id)
                if not unsettled:
                    uow.coaching.delete_session(session_id)
                    uow.commit()
                    return
            for message in unsettled:
                self._capture(message.account_id or user_id, message)
        raise Conflict("The session's last answers are still being charged; try again.")

    # --- the sweep -------------------------------------------------------------------------------
    def settle_pending_messages(self, limit: int = 100) -> int:
        """Capture stored answers whose capture never happened (a crash between the two)."""
        from datetime import timedelta

        before = self._clock.now() - timedelta(seconds=self.config.settle_grace)
        with self._uow() as uow:
            pending = uow.coaching.unsettled_messages(before, limit)
        broken = []
        for message in pending:
            try:
                self._capture(message.account_id or "", message)
            except Exception:  # one broken message must not stall the others; the job fails at the end
                broken.append(message.id)
        if broken:
            raise SweepIncomplete(len(pending) - len(broken), broken)
        return len(pending)


DELETE_ROUNDS = 3
STORE_SETTLE_WINDOW = 16  # newest messages read to find them (a concurrent exchange may follow)
CAPTURE_BACKOFF = (0.2, 0.5)  # seconds between attempts: a short database blip passes within the request


def _retrying(call: Callable[[], T]) -> T:
    """`call()`, retried on Unavailable/TransientError (its ledger key makes a retry safe)."""
    return retrying_unavailable(call, backoff=CAPTURE_BACKOFF)


def _predicted(prepared: _Prepared, answer: Message) -> BalanceSnapshot | None:
    """The balance after capturing `answer` from the balance the hold left (exact unless another
    movement happened meanwhile); None when there is nothing to predict from."""
    before = prepared.after_hold
    if before is None or prepared.hold_id is None:
        return None
    price = answer.credits_charged
    return BalanceSnapshot(before.balance - price, before.held - prepared.estimate,
                           before.available + prepared.estimate - price)  # fmt: skip


def _multiplier(coach: Coach) -> Fraction:
    return Fraction(str(coach.price_multiplier))


def _close(source: object) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        close()
