"""The composition root: settings -> adapters -> use cases. The only place that knows every adapter."""

from __future__ import annotations

import logging
import secrets
import tomllib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from domain.billing.catalogue import Catalogue
from domain.billing.ports import PaymentGateway, WebhookVerifier
from domain.billing.services import BillingConfig, BillingService
from domain.coaching.ports import CoachModel
from domain.coaching.services import Coaching
from domain.identity.services import IdentityService, TokenPolicy
from domain.ledger.model import Price, PriceList
from domain.ledger.services import Ledger
from domain.platform.services import Operations
from domain.shared.clock import Clock, SystemClock
from domain.shared.ids import IdGenerator, RandomIds
from domain.shared.jobs import JobQueue
from entrypoints.config import ConfigError, Settings
from entrypoints.container import Container, Resources, UowFactory
from entrypoints.fake_payments import build_fake_checkout, fake_state_file
from entrypoints.observability import Metrics, NullMetrics, RateLimiter, counted_ledger, watch_engine
from entrypoints.platform24 import build_platform24
from entrypoints.platform_wiring import build_platform_events
from entrypoints.worker.jobs import run_job
from entrypoints.worker.schedule import LocalSlotClaims, SlotClaims

if TYPE_CHECKING:
    from redis import Redis
    from sqlalchemy.engine import Engine

    from adapters.queue.inline import InlineJobQueue

log = logging.getLogger(__name__)
JOB_FUNCTION = "entrypoints.worker.rq_entry.execute"  # see entrypoints/worker/rq_entry.py


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
    catalogue: Catalogue | None = None,
    gateway: PaymentGateway | None = None,
    verifier: WebhookVerifier | None = None,
    coach_model: CoachModel | None = None,
) -> Container:
    """Build everything from `settings`; tests pass overrides (memory storage, a manual clock...)."""
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    readiness: dict[str, Callable[[], None]] = {}
    redis: Redis | None = None
    engine: Engine | None = None

    inline = None
    if queue is None:
        queue, inline, redis = _queue(settings, readiness)
    if uow is None:
        uow, engine = _storage(settings, queue, readiness)
    resources = Resources(engine=engine, redis=redis, worker_redis=_worker_redis(settings))
    hasher = hasher or _hasher(settings)
    tokens = tokens or _tokens(settings)
    prices = prices or load_prices(settings.prices_file)

    metrics = _metrics(settings, resources)
    ledger_type = counted_ledger(Ledger, metrics) if settings.metrics_enabled else Ledger
    ledger = ledger_type(
        uow=uow,
        clock=clock,
        ids=ids,
        prices=prices,
        default_hold_ttl=settings.default_hold_ttl,
        free_plan_credits=settings.free_plan_monthly_credits,
        retry_attempts=settings.db_retry_attempts,
        low_balance=(settings.low_balance_threshold, settings.low_balance_rearm),  # issue 22
    )
    coach_model = coach_model or _coach_model(settings, clock)
    coaching = _coaching(settings, uow, ledger, coach_model, clock, ids, prices)
    identity = IdentityService(
        uow=uow,
        clock=clock,
        ids=ids,
        hasher=hasher,
        tokens=tokens,
        policy=TokenPolicy(access_ttl=settings.access_token_ttl, refresh_ttl=settings.refresh_token_ttl),
        on_user_created=(ledger.open_account_for_new_user, coaching.on_user_created),  # an account, invitations told
        api_keys_per_user=settings.api_keys_per_user,
    )
    catalogue = catalogue or load_catalogue(settings)
    gateway = gateway or _gateway(settings, clock, ids)
    verifier = verifier or _verifier(settings)
    billing = BillingService(
        uow=uow,
        clock=clock,
        ids=ids,
        ledger=ledger,
        catalogue=catalogue,
        gateway=gateway,
        verifier=verifier,
        config=BillingConfig(
            public_base_url=settings.public_base_url,
            reconcile_window_seconds=settings.billing_reconcile_window_days * 24 * 3600,
        ),
    )
    platform24 = build_platform24(
        settings, uow=uow, ledger=ledger, clock=clock, ids=ids, hasher=hasher, gateway=gateway, catalogue=catalogue
    )  # issue 24
    billing.purchase_hooks = platform24.referrals  # issue 24: first paid purchase, refunds and disputes
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
        operations=Operations(uow=uow, clock=clock, ids=ids),  # login history, audit log, admin directory
        metrics=metrics,
        limiter=_limiter(settings, metrics),
        billing=billing,
        payment_gateway=gateway,
        webhook_verifier=verifier,
        coach_model=coach_model,
        coaching=coaching,
        platform_events=build_platform_events(settings, uow, clock, ids),  # issue 22
        platform24=platform24,
        slot_claims=_slot_claims(redis),
        fake_checkout=build_fake_checkout(settings, billing, gateway, clock),
    )
    if inline is not None:
        inline.bind(lambda job: run_job(container, job))
    return container


def _worker_redis(settings: Settings) -> Redis | None:
    """The client `houston worker` hands RQ's Worker: no socket timeout, it blocks on BLPOP (made
    lazily: no connection until the worker uses it)."""
    if not settings.redis_url:
        return None
    from redis import Redis

    return Redis.from_url(settings.redis_url)


def _slot_claims(redis: Redis | None) -> SlotClaims:
    """The periodic schedule's slot claims: on Redis, shared by every `houston cron`; without it,
    this process's own (enough for one scheduler)."""
    if redis is None:
        return LocalSlotClaims()
    from adapters.queue.rq_queue import RedisSlotClaims

    return RedisSlotClaims(redis)


def _metrics(settings: Settings, resources: Resources) -> Metrics:
    """Metrics (METRICS_ENABLED): the ledger's verbs are counted by building it from
    `counted_ledger`; database errors by watching the engine."""
    if not settings.metrics_enabled:
        return NullMetrics()
    from adapters.metrics.prometheus import PrometheusMetrics

    metrics = PrometheusMetrics(settings.metrics_dir)
    if resources.engine is not None:
        watch_engine(resources.engine, metrics)
    return metrics


def _limiter(settings: Settings, metrics: Metrics) -> RateLimiter | None:
    """The rate limiter (Redis when REDIS_URL is set); None when RATELIMIT_ENABLED=false."""
    if not settings.ratelimit_enabled:
        return None
    from adapters.ratelimit.limits_limiter import LimitsRateLimiter

    def on_error(error: Exception) -> None:
        metrics.dependency_error("redis")  # the requests it lets through are counted by the HTTP hook

    storage = settings.redis_url or "memory://"
    return LimitsRateLimiter(storage, strategy=settings.ratelimit_strategy, on_error=on_error)


def _storage(
    settings: Settings, queue: JobQueue, readiness: dict[str, Callable[[], None]]
) -> tuple[UowFactory, Engine | None]:
    if settings.database_url.startswith("memory:"):
        from adapters.memory.uow import MemoryUnitOfWorkFactory

        return MemoryUnitOfWorkFactory(queue=queue), None
    from adapters.sql.engine import make_engine
    from adapters.sql.outage import database_probe
    from adapters.sql.uow import SqlUnitOfWorkFactory

    if settings.database_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url, timeouts=database_timeouts(settings))
    readiness["database"] = database_probe(engine, settings.ready_timeout)
    return SqlUnitOfWorkFactory(engine, queue), engine


def database_timeouts(settings: Settings) -> Any:
    """The bounded waits of every MySQL/MariaDB connection (see adapters/sql/outage.py)."""
    from adapters.sql.outage import DbTimeouts

    return DbTimeouts(
        connect=settings.db_connect_timeout,
        read=settings.db_read_timeout,
        write=settings.db_write_timeout,
        lock_wait=settings.db_lock_wait_timeout,
        sync_wait=settings.db_sync_wait,
    )


def _queue(
    settings: Settings, readiness: dict[str, Callable[[], None]]
) -> tuple[JobQueue, InlineJobQueue | None, Redis | None]:
    if settings.redis_url:
        from redis import Redis

        from adapters.queue.rq_queue import RqJobQueue

        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)

        def check_redis() -> None:
            redis.ping()

        readiness["redis"] = check_redis
        return RqJobQueue(redis, job_function=JOB_FUNCTION, default_queue=settings.queues[0]), None, redis
    from adapters.queue.inline import InlineJobQueue

    inline = InlineJobQueue()
    return inline, inline, None


def _hasher(settings: Settings) -> Any:
    from adapters.security.bcrypt_hasher import BcryptPasswordHasher

    return BcryptPasswordHasher(rounds=settings.bcrypt_rounds)


def _tokens(settings: Settings) -> Any:
    from adapters.security.jwt_codec import JwtTokenCodec

    return JwtTokenCodec(secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def load_catalogue(settings: Settings) -> Catalogue:
    """The billing catalogue (CATALOGUE_FILE), with Stripe price ids from STRIPE_PRICE_IDS."""
    with open(settings.catalogue_file, "rb") as handle:
        raw = tomllib.load(handle)
    return Catalogue.from_mapping(raw, dict(settings.stripe_price_ids))


def _gateway(settings: Settings, clock: Clock, ids: IdGenerator) -> PaymentGateway:
    """STRIPE_SECRET_KEY set: Stripe (STRIPE_API_BASE may point it at a local fake); unset: the
    fake gateway, whose Checkout URLs open the service's own fake checkout page."""
    if settings.stripe_secret_key:
        from adapters.stripe.gateway import StripePaymentGateway

        return StripePaymentGateway(settings.stripe_secret_key, api_base=settings.stripe_api_base)
    if settings.is_production:  # load_settings refuses this already; a hand-made Settings must not slip through
        raise ConfigError("HOUSTON_ENV=production never runs on the fake payment gateway")
    from adapters.stripe.fake import FakePaymentGateway

    return FakePaymentGateway(settings.public_base_url, ids, clock=clock, state_file=fake_state_file(settings))


def _verifier(settings: Settings) -> WebhookVerifier:
    from adapters.stripe.webhooks import StripeWebhookVerifier

    # Settings built by hand (tests) may carry no secret: then nothing verifies but what is signed
    # with a random one nobody knows.
    return StripeWebhookVerifier(settings.stripe_webhook_secret or "whsec_" + secrets.token_urlsafe(32))


def _coach_model(settings: Settings, clock: Clock) -> CoachModel:
    """LLM_BASE_URL set: an OpenAI-compatible endpoint; unset: the offline scripted coach."""
    if settings.llm_base_url:
        from adapters.llm.openai_compatible import OpenAICompatibleCoach

        return OpenAICompatibleCoach(
            settings.llm_base_url,
            settings.llm_api_key,
            settings.llm_model,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
            deadline=settings.llm_deadline,
        )
    from adapters.llm.scripted import ScriptedCoach

    return ScriptedCoach(today=lambda: clock.now().date())  # dates its advice (overdue, days left)


def _coaching(
    settings: Settings,
    uow: UowFactory,
    ledger: Ledger,
    model: CoachModel,
    clock: Clock,
    ids: IdGenerator,
    prices: PriceList,
) -> Coaching:
    from entrypoints.coaches import coaching_config, load_coaches

    return Coaching(
        uow=uow,
        ledger=ledger,
        model=model,
        coaches=load_coaches(settings.coaches_file),
        clock=clock,
        ids=ids,
        config=coaching_config(settings, prices),
    )


__all__ = ["Container", "bootstrap", "load_catalogue", "load_prices"]
