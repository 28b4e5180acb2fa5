"""The composition root: settings -> adapters -> use cases. The only place that knows every adapter."""
from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from typing import Any

from domain.coaching.ports import CoachModel
from domain.coaching.services import Coaching
from domain.identity.services import IdentityService, TokenPolicy
from domain.ledger.model import Price, PriceList
from domain.ledger.services import Ledger
from domain.shared.clock import Clock, SystemClock
from domain.shared.ids import IdGenerator, RandomIds
from domain.shared.jobs import JobQueue
from entrypoints.config import Settings
from entrypoints.container import Container, UowFactory

log = logging.getLogger(__name__)
JOB_FUNCTION = "entrypoints.worker.jobs.execute"


def load_prices(path: str) -> PriceList:
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    prices = {
        key: Price(credits=int(value["credits"]), unit=str(value["unit"]))
        for key, value in raw.get("features", {}).items()
    }
    return PriceList(prices)


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    uow: UowFactory | None = None,
    queue: JobQueue | None = None,
    hasher: Any = None,
    tokens: Any = None,
    prices: PriceList | None = None,
    coach_model: CoachModel | None = None,
) -> Container:
    """Build everything from `settings`; tests pass overrides (memory storage, a manual clock...)."""
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    readiness: dict[str, Callable[[], None]] = {}
    resources: dict[str, Any] = {}

    inline = None
    if queue is None:
        queue, inline = _queue(settings, readiness, resources)
    if uow is None:
        uow = _storage(settings, queue, readiness, resources)
    hasher = hasher or _hasher(settings)
    tokens = tokens or _tokens(settings)
    prices = prices or load_prices(settings.prices_file)

    ledger = Ledger(
        uow=uow,
        clock=clock,
        ids=ids,
        prices=prices,
        default_hold_ttl=settings.default_hold_ttl,
        free_plan_credits=settings.free_plan_monthly_credits,
    )
    identity = IdentityService(
        uow=uow,
        clock=clock,
        ids=ids,
        hasher=hasher,
        tokens=tokens,
        policy=TokenPolicy(access_ttl=settings.access_token_ttl, refresh_ttl=settings.refresh_token_ttl),
        on_user_created=(ledger.open_account_for_new_user,),
    )
    coach_model = coach_model or _coach_model(settings)
    coaching = _coaching(settings, uow, ledger, coach_model, clock, ids, prices)
    container = Container(
        settings=settings,
        clock=clock,
        ids=ids,
        uow=uow,
        queue=queue,
        identity=identity,
        ledger=ledger,
        readiness=readiness,
        resources=resources,
        coach_model=coach_model,
        coaching=coaching,
    )
    if inline is not None:
        from entrypoints.worker.jobs import run_job

        inline.bind(lambda job: run_job(container, job))
    return container


def _storage(
    settings: Settings, queue: JobQueue, readiness: dict[str, Callable[[], None]], resources: dict[str, Any]
) -> UowFactory:
    if settings.database_url.startswith("memory:"):
        from adapters.memory.uow import MemoryUnitOfWorkFactory

        return MemoryUnitOfWorkFactory(queue=queue)
    from sqlalchemy import text

    from adapters.sql.engine import make_engine
    from adapters.sql.uow import SqlUnitOfWorkFactory

    if settings.database_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    resources["engine"] = engine

    def check_database() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    readiness["database"] = check_database
    return SqlUnitOfWorkFactory(engine, queue)


def _queue(
    settings: Settings, readiness: dict[str, Callable[[], None]], resources: dict[str, Any]
) -> tuple[JobQueue, Any]:
    if settings.redis_url:
        from redis import Redis

        from adapters.queue.rq_queue import RqJobQueue

        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        resources["redis"] = redis
        readiness["redis"] = lambda: redis.ping() and None
        return RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=settings.queues[0]), None
    from adapters.queue.inline import InlineJobQueue

    inline = InlineJobQueue()
    return inline, inline


def _hasher(settings: Settings) -> Any:
    from adapters.security.bcrypt_hasher import BcryptPasswordHasher

    return BcryptPasswordHasher(rounds=settings.bcrypt_rounds)


def _tokens(settings: Settings) -> Any:
    from adapters.security.jwt_codec import JwtTokenCodec

    return JwtTokenCodec(secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def _coach_model(settings: Settings) -> CoachModel:
    """LLM_BASE_URL set: an OpenAI-compatible endpoint; unset: the offline scripted coach."""
    if settings.llm_base_url:
        from adapters.llm.openai_compatible import OpenAICompatibleCoach

        return OpenAICompatibleCoach(
            settings.llm_base_url, settings.llm_api_key, settings.llm_model,
            timeout=settings.llm_timeout, max_retries=settings.llm_max_retries,
        )  # fmt: skip
    from adapters.llm.scripted import ScriptedCoach

    return ScriptedCoach()


def _coaching(
    settings: Settings, uow: UowFactory, ledger: Ledger, model: CoachModel, clock: Clock, ids: IdGenerator,
    prices: PriceList,
) -> Coaching:  # fmt: skip
    from entrypoints.coaches import coaching_config, load_coaches

    return Coaching(
        uow=uow, ledger=ledger, model=model, coaches=load_coaches(settings.coaches_file), clock=clock, ids=ids,
        config=coaching_config(settings, prices),
    )  # fmt: skip


__all__ = ["Container", "bootstrap", "load_prices"]
