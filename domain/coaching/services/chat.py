"""Chat sessions and messages with the coach, priced by tokens through a ledger hold.

A message is a saga of three steps, two of them transactions (issue 25): (1) claim the key, check,
read the context and hold, in one transaction; (2) call the model, in none; (3) store both messages,
capture the hold and mark the answer settled, in one transaction. Coaching and the ledger share
the unit of work for (1) and (3) through the narrow `CreditHolds` port (domain/ledger/ports.py:
`hold_within`, `capture_within`; `hold`, `capture`, `void`, `balance` on their own). The rule it
keeps (issue 19): **every reply that reaches the user is paid for exactly once, at most its hold; a
reply that does not reach the user costs nothing; a 503 means nothing was charged.** An answer
stored is an answer charged: the two commit together or not at all.

| step | key | the process dies here | the database refuses | the user deletes the session or workspace | the same key twice |
| --- | --- | --- | --- | --- | --- |
| 1 one transaction: claim the Idempotency-Key (`coaching_claims`), check access, read the context, hold the estimate on the workspace owner's account within the workspace's and the member's monthly caps (issue 23; the cap shrinks under the same lock; 402 below the minimum) | claim: sha256(user, "chat", key); hold: `coach:hold:<attempt id>` | nothing committed: nothing held, the key free. Committed: the hold expires after its TTL and the ledger's sweep releases it; the claim goes stale then and one retry takes it over | 503 (or 402, 404): rolled back, the key free again. A lost COMMIT is looked up by the hold's key | 404 before anything is held | replay when stored; `409 request_in_progress` while the first runs (never a second model call); `409 idempotency_conflict` for another body |
| 2 call the model, within `LLM_DEADLINE_SECONDS` (all retries included) | - | the hold expires: nothing charged | - | JSON: step 3 finds no session, voids: nothing was sent, nothing charged | - |
| 2' relay deltas (SSE), heartbeats while the model is silent | - | text sent but nothing stored: the hold expires (see "not covered") | - | the stream goes on; step 3 charges it anyway | - |
| 3 one transaction: the session's row lock, capture at the price (<= the hold) under the account's lock, both messages stored, the answer settled | `coach:capture:<hold id>`; the user message's key (unique) | nothing committed: as step 2. Committed: done | tried 3 times in the request (nothing committed in between). Then JSON: void + release the claim, 503, nothing charged; stream (text sent): capture anyway, then `error`. A lost COMMIT: looked up on a fresh connection (stored means charged); unknown: the hold is kept | JSON: void, 404. Stream: capture what was sent, then `error not_found` saying so | - (claimed) |

A hold that is gone when step 3 runs (it expired: the model outlived the TTL) charges nothing: that
try rolls back and the answer is stored free. A hold trimmed by grant expiry charges what is left of
it; the answer's `credits_charged` says what was really taken.

Answers stored unsettled (`settled=False`) come only from releases before step 3 was one
transaction (a crash between storing and capturing): `coaching.sweep` captures them after
`settle_grace`, before their hold expires, and deleting a session or workspace captures them first.
Deleting (delete_session, Coaching.delete_workspace): one transaction whose first statement locks
the session (workspace) row, then its sessions; when an answer is still unsettled or a task still
open, it is captured (or the task cancelled and released) outside the transaction and the deletion
tried again (409 after three rounds).

Not covered: the database down at step 3 of a stream whose text was sent, and at the capture after
it: nothing can record the charge, the hold expires and that partial reply is free (logged).

Sending a message, in order:
  1. ownership (policy) and limits; a replayed Idempotency-Key returns the first exchange;
  2. price the prompt plus the reply cap and hold that estimate; when the hold is refused, shrink
     the cap to what is available (the refusal says how much), down to `min_reply_tokens`, and
     hold that, under the same account lock; below it, 402 before any model call;
  3. call the model with the coach's system prompt, the workspace's active goals and open todos,
     and the newest HISTORY_MAX messages (older ones are dropped; only the columns shown are read);
  4. store both messages and capture the hold at the answer's price (actual tokens, never above
     the hold), in one transaction.
A model failure voids the hold (`coach:void:<hold id>`) and stores nothing: 502 llm_unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from fractions import Fraction

from domain.coaching.errors import CoachUnavailable, RequestInProgress
from domain.coaching.model import CONTENT_MAX, HISTORY_MAX, ChatSession, Claim, Coach, Message, check_length
from domain.coaching.policy import Action
from domain.coaching.ports import ChatMessage, CoachingUnitOfWork, CoachModel, ModelSettings, Reply
from domain.coaching.pricing import ChatPricing
from domain.coaching.prompts import chat_messages, prompt_tokens, system_prompt
from domain.coaching.services.base import DEFAULT_COACH, CoachingConfig, authorized, prompt_context
from domain.coaching.services.results import ChatStream, Delta, Done, Exchange, Failed, SessionView, StreamEvent
from domain.coaching.services.sessions import own_session
from domain.coaching.services.settlement import CAPTURE_BACKOFF, AnswerSettlement, capture_key
from domain.coaching.tokens import estimate_tokens
from domain.ledger.budgets import BudgetScope
from domain.ledger.errors import HoldExpired, HoldNotActive, HoldNotFound, InsufficientCredits
from domain.ledger.ports import CreditHolds
from domain.ledger.results import BalanceSnapshot
from domain.shared.clock import Clock
from domain.shared.errors import (
    DuplicateRecord,
    IdempotencyConflict,
    NotFound,
    OutcomeUnknown,
    TransientError,
    Unavailable,
)
from domain.shared.idempotency import fingerprint, request_key
from domain.shared.ids import IdGenerator
from domain.shared.uow import learn_outcome, retrying, retrying_unavailable, transaction

__all__ = ["ChatStream", "ChatUseCases", "Delta", "Done", "Exchange", "Failed", "SessionView", "StreamEvent"]

log = logging.getLogger(__name__)
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
    hold_key: str  # the hold's ledger key: how a lost COMMIT of transaction 1 is learned
    after_hold: BalanceSnapshot | None = None  # the balance the hold left; predicts the one after capture


class _KeyTaken(Exception):
    """The Idempotency-Key's claim INSERT was refused: another request has it (transaction 1 rolls back)."""


class ChatUseCases:
    """Sending a message (JSON or streamed) and charging it; a stored answer's charge is the
    `AnswerSettlement`'s (settlement.py)."""

    def __init__(
        self,
        *,
        uow: Callable[[], CoachingUnitOfWork],
        ledger: CreditHolds,
        model: CoachModel,
        coaches: dict[str, Coach],
        clock: Clock,
        ids: IdGenerator,
        config: CoachingConfig,
        settlement: AnswerSettlement,
    ) -> None:
        self._uow, self._ledger, self._model, self._settlement = uow, ledger, model, settlement
        self._coaches = coaches  # the catalogue the facade owns (shared, so a change is seen here)
        self._clock, self._ids, self._config = clock, ids, config

    # --- one message, all or nothing -------------------------------------------------------------
    def send_message(
        self, user_id: str, session_id: str, content: str, *, idempotency_key: str | None = None
    ) -> Exchange:
        check_length("content", content, CONTENT_MAX, required=True)
        key = request_key(user_id, "chat", idempotency_key) if idempotency_key else None
        print_ = fingerprint({"session": session_id, "content": content})
        started = self._begin(user_id, session_id, content, key, print_)
        if isinstance(started, Exchange):  # the key's first request, replayed
            return started
        prepared = started
        try:
            reply = self._model.reply(prepared.messages, prepared.settings)
        except BaseException:
            self._abandon(prepared)
            raise
        return self._store_and_capture(prepared, reply, sent=False)

    def stream_message(
        self, user_id: str, session_id: str, content: str, *, idempotency_key: str | None = None
    ) -> Iterator[StreamEvent]:
        """Checks, prices and holds now (so 404, 402 and 422 are raised before any event), then
        returns the events: Delta chunks, then one Done, or one Failed with nothing charged."""
        check_length("content", content, CONTENT_MAX, required=True)
        key = request_key(user_id, "chat", idempotency_key) if idempotency_key else None
        print_ = fingerprint({"session": session_id, "content": content})
        started = self._begin(user_id, session_id, content, key, print_)
        if isinstance(started, Exchange):
            return iter([Delta(started.assistant_message.content), Done(started)])
        prepared = started
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
            # From here settling is _store_and_capture's job, even if it raises: the text was sent,
            # so when storing (with its capture) fails it captures what was sent on its own.
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

    # --- transaction 1: the claim, the checks, the context and the hold ------------------------
    def _pricing(self) -> ChatPricing:
        return self._config.pricing

    def _begin(self, user_id: str, session_id: str, content: str, key: str | None, print_: str) -> _Prepared | Exchange:
        """Saga step 1, one transaction. A fresh key (the common case) is claimed by its
        first INSERT; a key already used fails it, and `_claimed_elsewhere` then replays the first
        exchange, refuses (409), or takes a stale claim over (claims of stored exchanges are never
        released). Any refusal (404, 402, 422) rolls the claim back with everything else; contention
        (a deadlock, a Galera certification conflict) runs the transaction again, as the ledger does."""
        try:
            return retrying(lambda: self._prepare(user_id, session_id, content, key, print_, claim=key is not None))
        except _KeyTaken:
            pass
        assert key is not None
        replayed = self._claimed_elsewhere(user_id, key, print_)
        if replayed is not None:
            return replayed
        try:  # the stale claim is ours now (committed): a refusal must release it
            return retrying(lambda: self._prepare(user_id, session_id, content, key, print_, claim=False))
        except BaseException:
            self._release_claim(key)
            raise

    def _prepare(
        self, user_id: str, session_id: str, content: str, key: str | None, print_: str, *, claim: bool
    ) -> _Prepared:
        hold_key = f"coach:hold:{self._ids.new_id('att')}"
        lost: OutcomeUnknown | None = None
        with self._uow() as uow:
            if claim:
                assert key is not None
                try:
                    uow.coaching.add_claim(Claim(key, print_, self._clock.now()))
                except DuplicateRecord:
                    raise _KeyTaken() from None
            prepared = self._draft(uow, user_id, session_id, content, key, print_, hold_key)
            try:
                uow.commit()
            except OutcomeUnknown as unknown:
                lost = unknown
        if lost is not None:
            self._learn_hold(prepared, lost)
        return prepared

    def _draft(
        self,
        uow: CoachingUnitOfWork,
        user_id: str,
        session_id: str,
        content: str,
        key: str | None,
        print_: str,
        hold_key: str,
    ) -> _Prepared:
        """Read what the prompt needs (only the columns it shows) and hold its estimate, in `uow`."""
        found = uow.coaching.get_session_with_workspace(session_id)
        workspace = authorized(uow, found[1] if found else None, user_id, Action.WRITE, "chat session")
        assert found is not None
        session = found[0]
        own_session(uow, workspace, session, user_id, others_may=False)  # one talks in one's own
        goals, todos = prompt_context(uow, workspace.id)
        history = uow.coaching.recent_turns(session_id, HISTORY_MAX)
        coach = self._coaches.get(session.coach) or self._coaches[DEFAULT_COACH]
        messages = chat_messages(system_prompt(coach, workspace, goals, todos), history, content)
        tokens = prompt_tokens(messages)
        multiplier = _multiplier(coach)
        pricing = self._pricing()
        cap = coach.max_reply_tokens
        estimate = pricing.cost(tokens + cap, multiplier)

        def shrink(short: InsufficientCredits) -> int:
            """The cap shrunk to what is available (the refusal says how much), down to the minimum."""
            nonlocal cap
            cap = pricing.affordable_cap(
                tokens, cap, self._config.min_reply_tokens, int(short.details["available"]), multiplier, short
            )
            return pricing.cost(tokens + cap, multiplier)

        # Issue 23: the workspace's owner pays, within the workspace's and the member's monthly caps,
        # all checked in the hold. A refusal at any level (402 naming it) says how much room is left:
        # the cap shrinks to that, as it does to the balance, under the same lock.
        payer, hold_id, after_hold = workspace.owner_id, None, None
        if estimate > 0:
            movement = self._ledger.hold_within(
                uow,
                payer,
                amount=estimate,
                idempotency_key=hold_key,
                ttl_seconds=self._config.chat_hold_ttl,
                feature_key=FEATURE,
                reference=f"chat:{session_id}",
                budget=BudgetScope(workspace.id, user_id),
                shrink=shrink,
            )
            assert movement.hold is not None
            hold_id, after_hold, estimate = movement.hold.id, movement.balance, movement.hold.requested
        settings = ModelSettings(model=coach.model, temperature=coach.temperature, max_tokens=cap)
        return _Prepared(
            payer,
            session,
            coach,
            content,
            key,
            print_,
            messages,
            settings,
            tokens,
            estimate,
            hold_id,
            hold_key,
            after_hold,
        )

    def _learn_hold(self, prepared: _Prepared, unknown: OutcomeUnknown) -> None:
        """Transaction 1's COMMIT lost its answer: on a fresh connection, did the hold (and with it
        the claim) commit? Yes: go on. No: nothing happened (503). Still unknown: `OutcomeUnknown`;
        a hold that did commit expires, and a claim with it goes stale after the hold's TTL."""
        if prepared.hold_id is None:  # nothing to look up by (a free message): say so
            raise unknown

        def committed() -> bool:
            with self._uow() as uow:
                return uow.ledger.get_idempotency(prepared.payer, prepared.hold_key) is not None

        if not learn_outcome(committed, unknown):
            raise Unavailable("The message could not be started; nothing was held.") from unknown

    # --- the Idempotency-Key claim ---------------------------------------------------------------
    def _claimed_elsewhere(self, user_id: str, key: str, print_: str) -> Exchange | None:
        """`key` is claimed already. An Exchange: the first request finished (replay it); None: its
        claim was stale and is ours now; RequestInProgress (409): it is still running. A claim older
        than the hold's TTL belongs to a request that died (its hold has expired): exactly one
        caller takes it over."""
        now = self._clock.now()
        replayed = self._settlement.replay(user_id, key, print_)
        if replayed is not None:
            return replayed

        def take_over(uow: CoachingUnitOfWork) -> bool:
            claim = uow.coaching.get_claim(key)
            if claim is not None and claim.fingerprint != print_:
                raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
            stale = claim is not None and claim.created_at <= now - timedelta(seconds=self._config.chat_hold_ttl)
            return stale and claim is not None and uow.coaching.renew_claim(key, claim.created_at, now)

        if transaction(self._uow, take_over):  # the renewal compares the claim's time: a rerun takes it once
            return None
        raise RequestInProgress()

    def _release_claim(self, key: str | None) -> None:
        if key is None:
            return
        try:
            transaction(self._uow, lambda uow: uow.coaching.release_claim(key))
        except (Unavailable, TransientError):  # the claim goes stale after the hold's TTL: the key frees then
            log.warning("could not release an Idempotency-Key claim; it frees itself after the hold's TTL")

    def _abandon(self, prepared: _Prepared) -> None:
        """Nothing reached the user: release the hold and the key."""
        self._void(prepared)
        self._release_claim(prepared.key)

    # --- transaction 3: store, capture and settle together ---------------------------------------
    def _store_and_capture(self, prepared: _Prepared, reply: Reply, *, sent: bool) -> Exchange:
        used = self._pricing().cost(reply.tokens_in + reply.tokens_out, _multiplier(prepared.coach))
        now = self._clock.now()
        user_message = Message(
            id=self._ids.new_id("msg"),
            session_id=prepared.session.id,
            seq=0,
            role="user",
            content=prepared.content,
            created_at=now,
            idempotency_key=prepared.key,
            fingerprint=prepared.fingerprint,
            account_id=prepared.payer,
        )
        answer = Message(
            id=self._ids.new_id("msg"),
            session_id=prepared.session.id,
            seq=0,
            role="assistant",
            content=reply.text,
            created_at=now,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            credits_charged=min(used, prepared.estimate),
            model=reply.model,
            cut_short=reply.cut_short,
            hold_id=prepared.hold_id,
            settled=True,
            account_id=prepared.payer,
        )
        try:
            user_message, answer, balance = self._store_knowing_the_outcome(prepared, user_message, answer)
        except DuplicateRecord:  # a stale claim was taken over and the first request stored after all
            self._void(prepared)
            replayed = self._settlement.replay(prepared.payer, prepared.key, prepared.fingerprint)
            if replayed is None:
                raise
            return replayed
        except BaseException as error:
            if not sent and isinstance(error, OutcomeUnknown):
                # Stored (and charged: one transaction) or neither, nobody can tell now: keep the
                # hold. If nothing was stored, it expires. Never a stored answer with a void hold.
                raise
            if not sent:  # the user saw nothing: nothing is charged
                self._abandon(prepared)
                raise
            # Defect 1: the text already left (the session was deleted meanwhile, or storing failed):
            # what was sent is charged, stored or not.
            charged = self._capture_unstored(prepared, answer.credits_charged)
            if isinstance(error, NotFound):
                raise NotFound(
                    f"The chat session was deleted while the answer streamed; the {charged} credits "
                    "for what was sent were charged."
                ) from error
            raise
        return Exchange(user_message, answer, answer.credits_charged, balance)

    def _capture_unstored(self, prepared: _Prepared, price: int) -> int:
        if prepared.hold_id is None:
            return 0
        try:
            movement = self._settlement.capture_hold(prepared.payer, prepared.hold_id, price)
            return -movement.entry.amount if movement is not None and movement.entry else 0
        except Exception:  # the database is gone too: the hold expires; logged for the operators
            log.exception("could not charge a streamed reply whose storing failed", extra={"hold_id": prepared.hold_id})
            return 0

    def _store_knowing_the_outcome(
        self, prepared: _Prepared, user_message: Message, answer: Message
    ) -> tuple[Message, Message, BalanceSnapshot]:
        """`_settle_exchange`, tried again while the database is unavailable or contended (nothing
        was committed then); and when its COMMIT's answer is lost (issue 20: `OutcomeUnknown`),
        found out on a fresh connection: both messages stored means charged too (one transaction),
        and the request goes on; not stored, it is an ordinary storage failure (`Unavailable`);
        still unknown, the `OutcomeUnknown` goes up and the hold is kept for its expiry."""
        session_id = prepared.session.id
        try:
            stored_user, stored, balance = retrying_unavailable(
                lambda: self._settle_exchange(prepared, user_message, answer),
                backoff=CAPTURE_BACKOFF,
                unknown_too=False,
            )
        except OutcomeUnknown as unknown:
            recent = learn_outcome(lambda: self._recent(session_id), unknown)
            if answer.id in recent and user_message.id in recent:
                stored, balance = self._settlement.capture(
                    prepared.payer, recent[answer.id], fallback=_predicted(prepared, answer)
                )
                return recent[user_message.id], stored, balance
            raise Unavailable("The answer could not be stored; nothing was charged.") from unknown
        if balance is None:  # nothing captured (a free message, a hold gone): the balance as it stands
            balance = self._balance_now(prepared, stored)
        return stored_user, stored, balance

    def _balance_now(self, prepared: _Prepared, answer: Message) -> BalanceSnapshot:
        """After the exchange committed, outside its retries (a second try would store it twice):
        read; when the ledger cannot answer, predicted from the balance the hold left."""
        try:
            view = self._ledger.balance(prepared.payer)
        except (Unavailable, TransientError, OutcomeUnknown):
            predicted = _predicted(prepared, answer)
            if predicted is None:
                raise
            return predicted
        return BalanceSnapshot(view.balance, view.held, view.available)

    def _recent(self, session_id: str) -> dict[str, Message]:
        with self._uow() as uow:
            return {m.id: m for m in uow.coaching.recent_messages(session_id, STORE_SETTLE_WINDOW)}

    def _settle_exchange(
        self, prepared: _Prepared, user_message: Message, answer: Message
    ) -> tuple[Message, Message, BalanceSnapshot | None]:
        """Store both messages and capture the hold at the answer's price, in one transaction: the
        answer is stored settled, or nothing is. A hold that is gone (it expired before the answer
        came) charges nothing: that try is rolled back and the answer stored free (no balance then)."""
        try:
            return self._store(prepared, user_message, answer, capture=True)
        except (HoldExpired, HoldNotActive, HoldNotFound):
            return self._store(prepared, user_message, replace(answer, credits_charged=0), capture=False)

    def _store(
        self, prepared: _Prepared, user_message: Message, answer: Message, *, capture: bool
    ) -> tuple[Message, Message, BalanceSnapshot | None]:
        """The session's row lock first (messages take their seq from it; a deletion holds it too),
        then the capture under the payer's account lock, then the writes; one COMMIT."""
        balance = None
        with self._uow() as uow:
            session = uow.coaching.get_session_for_update(prepared.session.id)
            if session is None:
                raise NotFound("The chat session was deleted.")
            hold_id = prepared.hold_id
            if capture and hold_id is not None:
                movement = self._ledger.capture_within(
                    uow,
                    prepared.payer,
                    hold_id,
                    amount=answer.credits_charged,
                    idempotency_key=capture_key(hold_id),
                )
                balance = movement.balance
                answer = replace(answer, credits_charged=-movement.entry.amount if movement.entry else 0)
            user_message = replace(user_message, seq=session.message_count + 1)
            answer = replace(answer, seq=session.message_count + 2)
            uow.coaching.add_messages([user_message, answer])
            session.message_count += 2
            session.updated_at = answer.created_at
            uow.coaching.update_session(session)
            uow.commit()
        return user_message, answer, balance

    def _void(self, prepared: _Prepared) -> None:
        if prepared.hold_id is None:
            return
        try:
            self._ledger.void(prepared.payer, prepared.hold_id, idempotency_key=f"coach:void:{prepared.hold_id}")
        except (HoldExpired, HoldNotActive, HoldNotFound):
            pass


STORE_SETTLE_WINDOW = 16  # newest messages read to find them (a concurrent exchange may follow)


def _predicted(prepared: _Prepared, answer: Message) -> BalanceSnapshot | None:
    """The balance after the hold ended charging `answer`'s price (0 when the hold was gone), from
    the balance the hold left (exact unless another movement happened meanwhile); None when there
    is nothing to predict from."""
    before = prepared.after_hold
    if before is None or prepared.hold_id is None:
        return None
    price = answer.credits_charged
    return BalanceSnapshot(
        before.balance - price, before.held - prepared.estimate, before.available + prepared.estimate - price
    )


def _multiplier(coach: Coach) -> Fraction:
    return Fraction(str(coach.price_multiplier))


def _close(source: object) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        close()
