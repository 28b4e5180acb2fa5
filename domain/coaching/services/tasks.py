"""AI tasks (strategy, weekly_review): held when asked for, run by a worker, captured on success,
released on failure or cancel; a periodic sweep fails tasks stuck past their timeout.

- `create_task` holds the task's price (`task.<type>` in the price list; key `task:hold:<task id>`),
  stores the task `queued` and enqueues `coaching.run_task` after the commit. If storing fails the
  hold is voided. A crash between the hold and the store leaves a hold that expires on its own.
- `run_task` (the worker) moves `queued -> running` (anything else: the job does nothing, so a
  duplicate delivery is harmless), calls the model, then under the task's row lock stores the
  result `succeeded` (unsettled) and captures (`task:capture:<hold id>`), then marks it settled;
  or stores `failed` and voids. A task cancelled while it ran keeps its cancel: the result is dropped.
- `cancel_task` moves `queued|running -> cancelled` under the row lock, then voids.
- `sweep_tasks` fails `running` tasks started more than `task_timeout` ago and `queued` ones
  waiting more than `task_queue_timeout` (their job was lost), releasing their holds, and
  captures tasks that succeeded but whose capture never happened.

The task saga (issue 19), beside the chat one in chat.py:

| step | key | the process dies here | the database refuses | the workspace is deleted | the same key twice |
| --- | --- | --- | --- | --- | --- |
| hold the price | `task:hold:<task id>` | the hold expires (queue timeout + task timeout + 300 s) | 503/402, nothing stored | 404 before the hold | replay of the stored task |
| store `queued` + enqueue, under the workspace's row lock | the task's key (unique) | the hold expires; nothing stored | the task is failed and its hold voided | serialised with the deletion: stored before it (and cancelled by it) or 404 and voided | DuplicateRecord: this hold voided, the first task replayed |
| run: `queued -> running`, the model (within `LLM_DEADLINE_SECONDS`) | - | the sweep fails it after `task_timeout` and voids | - | the deletion cancels it and voids; the result is dropped | a second delivery does nothing |
| store `succeeded` unsettled, then capture | `task:capture:<hold id>` | the sweep captures it after `settle_grace` | the sweep captures it | the deletion captures it first | - |
| or store `failed`/`cancelled`, then void | `task:void:<hold id>` | the hold expires | the hold expires | - | - |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from domain.coaching.errors import CoachUnavailable, TaskNotCancellable, WorkspaceNotFound
from domain.coaching.model import CONTENT_MAX, Coach, Task, TaskStatus
from domain.coaching.policy import Action
from domain.coaching.ports import CoachingUnitOfWork, CoachModel, ModelSettings
from domain.coaching.prompts import system_prompt, task_messages
from domain.coaching.services.base import (
    DEFAULT_COACH,
    CoachingConfig,
    access,
    access_within,
    authorized,
    prompt_context,
)
from domain.ledger.budgets import BudgetScope
from domain.ledger.errors import HoldExpired, HoldNotActive, HoldNotFound, SweepIncomplete
from domain.ledger.ports import CreditHolds
from domain.platform import emitters  # issue 22: events to webhooks and notifications
from domain.shared.clock import Clock
from domain.shared.errors import DuplicateRecord, IdempotencyConflict, InvalidInput
from domain.shared.idempotency import fingerprint, request_key
from domain.shared.ids import IdGenerator
from domain.shared.jobs import Job
from domain.shared.pagination import Page, check_limit, id_cursor, page_of
from domain.shared.uow import transaction

RUN_TASK_JOB = "coaching.run_task"
TIMED_OUT = "timed_out: the task did not finish in time; its credits were released"


@dataclass(frozen=True, slots=True)
class SweepResult:
    failed: int
    settled_tasks: int
    settled_messages: int


class TaskUseCases:
    """AI tasks: asked for, run by the worker, cancelled, swept; each held, then captured or released."""

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
    ) -> None:
        self._uow, self._ledger, self._model = uow, ledger, model
        self._coaches = coaches
        self._clock, self._ids, self._config = clock, ids, config

    def create_task(
        self,
        user_id: str,
        *,
        type: str,
        workspace_id: str,
        input: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> Task:
        price = self._config.task_price(type)
        if len(json.dumps(input, default=str)) > CONTENT_MAX:
            raise InvalidInput("input is too large.", details={"input": f"At most {CONTENT_MAX} characters as JSON."})
        key = request_key(user_id, "task", idempotency_key) if idempotency_key else None
        print_ = fingerprint({"type": type, "workspace_id": workspace_id, "input": input})
        with self._uow() as uow:
            payer = access(uow, workspace_id, user_id, Action.WRITE).owner_id  # issue 23: the owner pays
            first = self._replay_task(uow, key, print_)
        if first is not None:
            return first
        now, task_id = self._clock.now(), self._ids.new_id("tsk")
        hold_id = None
        if price > 0:
            movement = self._ledger.hold(
                payer,
                amount=price,
                idempotency_key=f"task:hold:{task_id}",
                ttl_seconds=self._config.task_hold_ttl,
                feature_key=f"task.{type}",
                reference=f"task:{task_id}",
                budget=BudgetScope(workspace_id, user_id),
            )
            assert movement.hold is not None
            hold_id = movement.hold.id
        task = Task(
            id=task_id,
            owner_id=user_id,
            workspace_id=workspace_id,
            type=type,
            input=dict(input),
            status=TaskStatus.QUEUED,
            credits_held=price,
            created_at=now,
            updated_at=now,
            hold_id=hold_id,
            idempotency_key=key,
            fingerprint=print_,
            payer_id=payer,
        )

        def store(uow: CoachingUnitOfWork) -> None:
            # The workspace row's lock, taken first, serialises this with delete_workspace (defect 7):
            # either the task is stored before the deletion looks for open tasks, or it finds no workspace.
            authorized(uow, uow.coaching.get_workspace_for_update(workspace_id), user_id, Action.WRITE)
            uow.coaching.add_task(task)
            uow.enqueue(Job(RUN_TASK_JOB, {"task_id": task.id}, job_id=f"task-{task.id}"))

        try:  # the hold stays outside: it commits on its own, and a rerun of `store` must not hold twice
            transaction(self._uow, store)
        except DuplicateRecord:  # the same Idempotency-Key, concurrently: the first one stands (never retried)
            self._release(task)
            with self._uow() as uow:
                first = self._replay_task(uow, key, print_)
            if first is None:
                raise
            return first
        except BaseException:
            # Enqueueing runs after the commit: if it failed, the stored task is failed now (the
            # caller sees the error and never a task that would wait for a job that is not there).
            self._fail(task.id, "queue_unavailable: the task could not be queued; its credits were released")
            self._release(task)
            raise
        return task

    def _fail(self, task_id: str, error: str) -> Task | None:
        """queued|running -> failed under the row lock; the task when it changed, else None."""

        def work(uow: CoachingUnitOfWork) -> Task | None:
            task = uow.coaching.get_task_for_update(task_id)
            if task is None or task.status not in (TaskStatus.QUEUED, TaskStatus.RUNNING):
                return None
            now = self._clock.now()
            task.status, task.error, task.finished_at, task.updated_at = TaskStatus.FAILED, error, now, now
            uow.coaching.update_task(task)
            emitters.task(uow, task, now)
            return task

        return transaction(self._uow, work)

    def _replay_task(self, uow: Any, key: str | None, print_: str) -> Task | None:
        if key is None:
            return None
        first: Task | None = uow.coaching.get_task_by_key(key)
        if first is None:
            return None
        if first.fingerprint != print_:
            raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
        # The original response, as API.md asks: the task as it was created (GET shows it now).
        return replace(
            first,
            status=TaskStatus.QUEUED,
            result=None,
            error=None,
            credits_charged=0,
            started_at=None,
            finished_at=None,
            updated_at=first.created_at,
            settled=True,
        )

    def get_task(self, user_id: str, task_id: str) -> Task:
        with self._uow() as uow:
            return self._task(uow, user_id, task_id, Action.READ)

    def _task(self, uow: Any, user_id: str, task_id: str, action: Action, *, lock: bool = False) -> Task:
        task: Task | None = uow.coaching.get_task_for_update(task_id) if lock else uow.coaching.get_task(task_id)
        if task is None or task.owner_id != user_id:
            raise WorkspaceNotFound("task")
        access_within(uow, task.workspace_id, user_id, action, "task")
        return task

    def list_tasks(
        self, user_id: str, *, limit: int = 50, cursor: str | None = None, status: str | None = None
    ) -> Page[Task]:
        check_limit(limit)
        wanted = None
        if status is not None:
            try:
                wanted = TaskStatus(status)
            except ValueError:
                raise InvalidInput(f"Unknown status {status!r}.", details={"status": "Not a task status."}) from None
        with self._uow() as uow:
            rows = uow.coaching.list_tasks(user_id, limit=limit + 1, before=id_cursor(cursor), status=wanted)
        return page_of(rows, limit, lambda t: {"id": t.id})

    def cancel_task(self, user_id: str, task_id: str) -> Task:
        return self.cancel_as(user_id, task_id, check_access=True)

    def cancel_as(self, user_id: str, task_id: str, *, check_access: bool = False) -> Task:
        """Cancel under the task's row lock, read and checked in the same transaction that changes it;
        the hold is released after it commits (the ledger's void commits on its own)."""

        def work(uow: CoachingUnitOfWork) -> tuple[Task, bool]:
            if check_access:
                task = self._task(uow, user_id, task_id, Action.WRITE, lock=True)
            else:  # deleting a workspace cancels its tasks as their owners
                found = uow.coaching.get_task_for_update(task_id)
                if found is None:
                    raise WorkspaceNotFound("task")
                task = found
            if task.status is TaskStatus.CANCELLED:
                return task, False
            if task.status.finished:
                raise TaskNotCancellable(f"The task already {task.status.value}.")
            now = self._clock.now()
            task.status, task.finished_at, task.updated_at = TaskStatus.CANCELLED, now, now
            uow.coaching.update_task(task)
            return task, True

        task, cancelled = transaction(self._uow, work)
        if cancelled:
            self._release(task)
        return task

    # --- the worker ------------------------------------------------------------------------------
    def run_task(self, task_id: str) -> TaskStatus | None:
        """Run one queued task (the job `coaching.run_task`); returns its final status, or None
        when there was nothing to run (not found, already running or finished)."""
        task = self.start(task_id)
        if task is None:
            return None
        try:
            reply_text, failure = self._call_model(task), None
        except CoachUnavailable as error:
            reply_text, failure = None, f"{error.code}: {error.message}"
        except Exception as error:  # a bug must not keep the hold: fail the task, then re-raise
            self._finish(task.id, None, f"internal_error: {type(error).__name__}")
            raise
        return self._finish(task.id, reply_text, failure)

    def start(self, task_id: str) -> Task | None:
        """queued -> running under the row lock (the worker's first step); None when not queued."""

        def work(uow: CoachingUnitOfWork) -> Task | None:
            task = uow.coaching.get_task_for_update(task_id)
            if task is None or task.status is not TaskStatus.QUEUED:
                return None
            now = self._clock.now()
            task.status, task.started_at, task.updated_at = TaskStatus.RUNNING, now, now
            uow.coaching.update_task(task)
            return task

        return transaction(self._uow, work)

    def _call_model(self, task: Task) -> str:
        with self._uow() as uow:
            workspace = uow.coaching.get_workspace(task.workspace_id)
            if workspace is None:
                raise CoachUnavailable("The workspace was deleted.")
            goals, todos = prompt_context(uow, workspace.id)
        coach = self._coaches[DEFAULT_COACH]
        notes = str(task.input.get("notes") or task.input.get("prompt") or "")
        messages = task_messages(system_prompt(coach, workspace, goals, todos), task.type, notes)
        settings = ModelSettings(
            model=coach.model, temperature=coach.temperature, max_tokens=self._config.task_max_tokens
        )
        return self._model.reply(messages, settings).text

    def _finish(self, task_id: str, result: str | None, failure: str | None) -> TaskStatus | None:
        """Store the model's outcome under the row lock, then capture or release (outside: the
        ledger's capture and void commit on their own)."""

        def work(uow: CoachingUnitOfWork) -> tuple[Task | None, bool]:
            task = uow.coaching.get_task_for_update(task_id)
            if task is None or task.status is not TaskStatus.RUNNING:  # cancelled or swept meanwhile
                return task, False
            now = self._clock.now()
            task.finished_at, task.updated_at = now, now
            if failure is None:
                task.status, task.result = TaskStatus.SUCCEEDED, result
                task.credits_charged, task.settled = task.credits_held, task.hold_id is None
            else:
                task.status, task.error = TaskStatus.FAILED, failure[:500]
            uow.coaching.update_task(task)
            emitters.task(uow, task, now)
            return task, True

        task, finished = transaction(self._uow, work)
        if not finished:
            return task.status if task is not None else None
        assert task is not None
        if task.status is TaskStatus.SUCCEEDED:
            self.settle(task)
        else:
            self._release(task)
        return task.status

    def settle(self, task: Task) -> None:
        """Capture a succeeded task's hold at its price (gone: nothing charged) and mark it settled."""
        charged = task.credits_charged
        if task.hold_id is not None:
            try:
                self._ledger.capture(
                    task.payer_id or task.owner_id,
                    task.hold_id,
                    amount=charged,
                    idempotency_key=f"task:capture:{task.hold_id}",
                )
            except (HoldExpired, HoldNotActive, HoldNotFound):  # expired (or gone): nothing left to charge
                charged = 0

        def mark(uow: CoachingUnitOfWork) -> None:
            stored = uow.coaching.get_task_for_update(task.id)
            if stored is not None:
                stored.settled, stored.credits_charged = True, charged
                uow.coaching.update_task(stored)

        transaction(self._uow, mark)  # after the capture, which commits on its own (its key replays it)

    def _release(self, task: Task) -> None:
        if task.hold_id is None:
            return
        try:
            self._ledger.void(task.payer_id or task.owner_id, task.hold_id, idempotency_key=f"task:void:{task.hold_id}")
        except (HoldExpired, HoldNotActive, HoldNotFound):
            pass

    # --- the sweep -------------------------------------------------------------------------------
    def sweep_tasks(self, limit: int = 100) -> tuple[int, int]:
        """Fail stuck tasks (releasing their holds) and settle uncaptured successes: (failed, settled)."""
        now = self._clock.now()
        with self._uow() as uow:
            stuck = uow.coaching.stuck_tasks(
                now - timedelta(seconds=self._config.task_timeout),
                now - timedelta(seconds=self._config.task_queue_timeout),
                limit,
            )
            pending = uow.coaching.unsettled_tasks(now - timedelta(seconds=self._config.settle_grace), limit)
        failed, broken = 0, []
        for candidate in stuck:
            try:
                task = self._fail(candidate.id, TIMED_OUT)
                if task is not None:
                    self._release(task)
                    failed += 1
            except Exception:  # one broken task must not stall the others; the job fails at the end
                broken.append(candidate.id)
        for task in pending:
            try:
                self.settle(task)
            except Exception:
                broken.append(task.id)
        if broken:
            raise SweepIncomplete(failed + len(pending) - len(broken), broken)
        return failed, len(pending)
