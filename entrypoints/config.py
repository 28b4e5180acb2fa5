"""Settings, read once from the environment, with safe embedded defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """The environment describes a service that must not start."""


@dataclass(frozen=True, slots=True)
class Settings:
    env: str = "development"
    database_url: str = "sqlite:///var/houston.db"
    redis_url: str | None = None
    jwt_secret: str = field(default="", repr=False)
    jwt_issuer: str = "houston"
    jwt_audience: str = "houston-api"
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    bcrypt_rounds: int = 12
    max_content_length: int = 1024 * 1024
    log_level: str = "INFO"
    prices_file: str = str(PACKAGE_DIR / "prices.toml")
    free_plan_monthly_credits: int = 100
    default_hold_ttl: int = 15 * 60
    queues: tuple[str, ...] = ("default",)
    data_dir: str = "var"
    host: str = "127.0.0.1"
    port: int = 8000
    web_concurrency: int = 2
    # threads per gunicorn worker: >1 is gunicorn's gthread worker (a browser's idle speculative
    # connections cannot starve it), 1 the sync worker (production, behind a buffering proxy)
    web_threads: int = 4
    # --- hardening (issue 12): bounded waits on the database, and the readiness probe's own bound
    db_connect_timeout: int = 3
    db_read_timeout: int = 5
    db_write_timeout: int = 5
    db_lock_wait_timeout: int = 2
    ready_timeout: int = 2
    db_sync_wait: int = 1  # Galera: the sessions' wsrep_sync_wait (issue 20); ignored elsewhere
    db_retry_attempts: int = 5  # tries of a ledger call on contention (deadlock, lock wait, certification conflict)
    api_keys_per_user: int = 50
    # --- operations (issue 15): rate limits and metrics ---
    ratelimit_enabled: bool = True
    ratelimit_strategy: str = "fixed-window"
    ratelimit_auth: str = "10/minute;100/hour"
    ratelimit_default: str = "300/minute"
    ratelimit_plans: tuple[tuple[str, str], ...] = ()  # (plan, limits) from RATELIMIT_PLAN_<PLAN>
    trusted_proxies: int = 0
    metrics_enabled: bool = True
    metrics_token: str | None = field(default=None, repr=False)
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR: set by `houston serve`
    # billing (issue 13)
    catalogue_file: str = str(PACKAGE_DIR / "catalogue.toml")
    stripe_secret_key: str | None = field(default=None, repr=False)  # unset: the local fake gateway and checkout page
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_api_base: str | None = None
    stripe_price_ids: tuple[tuple[str, str], ...] = ()  # (plan or pack id, Stripe price id)
    public_base_url: str = "http://127.0.0.1:8000"
    billing_reconcile_window_days: int = 30  # issue 18: as long as Stripe keeps events
    # --- coaching (issue 14) ---
    llm_base_url: str | None = None  # unset: the offline scripted coach
    llm_api_key: str = field(default="", repr=False)
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 60.0
    llm_max_retries: int = 3
    llm_deadline: float = 25.0  # one model call, retries included (issue 19); gunicorn's timeout follows it
    sse_heartbeat: float = 10.0  # seconds of model silence before an SSE comment keeps a stream alive
    coaches_file: str = str(PACKAGE_DIR / "coaches.toml")
    coach_min_reply_tokens: int = 64
    coach_hold_ttl: int = 15 * 60
    task_timeout: int = 10 * 60
    task_queue_timeout: int = 60 * 60
    invitation_ttl_days: int = 7  # issue 23: a workspace invitation expires after this many days
    # --- outbox, outgoing webhooks, notifications (issue 22) ---
    webhook_allowed_networks: str = ""  # CIDRs a webhook may reach although not public (tests: 127.0.0.0/8)
    webhook_retry_schedule: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_disable_after_days: float = 5.0
    webhook_rotation_overlap_hours: float = 24.0
    webhook_backlog_max: int = 1000
    webhook_timeout: float = 10.0
    smtp_url: str | None = field(default=None, repr=False)  # unset: emails are written to the log
    email_from: str = "Houston <no-reply@localhost>"
    low_balance_threshold: int = 20
    low_balance_rearm: int = 50
    low_balance_cooldown_hours: float = 72.0

    @property
    def worker_timeout(self) -> int:
        """gunicorn's worker `timeout` (entrypoints/gunicorn_conf.py), derived from the model's
        deadline so that a model call always ends, and its answer (or 502) is sent, before gunicorn
        would kill the worker: the deadline, plus the database's bounded waits around it (hold,
        store, capture: about 2 x DB_READ_TIMEOUT_SECONDS each at worst), plus 5 s."""
        return int(self.llm_deadline) + 2 * self.db_read_timeout + 5

    # --- referrals (issue 24) ---
    referral_bonus: int = 200
    referral_referee_bonus: int = 50
    referral_hold_days: int = 14
    referral_monthly_cap: int = 10
    # --- platform gaps (issue 27): the renewal notice and retention ---
    subscription_renewal_notice_days: int = 3
    retention_platform_events_days: int = 90
    retention_webhook_attempts_days: int = 30
    retention_read_notifications_days: int = 90
    retention_batch_size: int = 500

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _sync_wait(env: Mapping[str, str]) -> int:
    value = _int(env, "DB_SYNC_WAIT", 1)
    if value > 15:  # wsrep_sync_wait is a 4-bit mask
        raise ConfigError(f"DB_SYNC_WAIT must be between 0 and 15, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


RATELIMIT_STRATEGIES = ("fixed-window", "sliding-window-counter", "moving-window")
RATELIMIT_PLAN_PREFIX = "RATELIMIT_PLAN_"


def _limits(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit in the `limits` library's notation ("10/minute;100/hour"), checked now."""
    from limits import parse_many

    value = env.get(name) or default
    try:
        if not parse_many(value):
            raise ValueError(value)
    except ValueError:
        raise ConfigError(f"{name} must be limits like '10/minute;100/hour', got {value!r}") from None
    return value


def _plan_limits(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    names = sorted(k for k in env if k.startswith(RATELIMIT_PLAN_PREFIX) and len(k) > len(RATELIMIT_PLAN_PREFIX))
    return tuple((k[len(RATELIMIT_PLAN_PREFIX) :].lower(), _limits(env, k, "")) for k in names)


def _jwt_secret(env: Mapping[str, str], production: bool, data_dir: Path) -> str:
    secret = env.get("JWT_SECRET", "")
    if secret:
        if len(secret) < MIN_SECRET_LENGTH:
            if production:
                raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters in production")
        return secret
    if production:
        raise ConfigError("JWT_SECRET is required when HOUSTON_ENV=production")
    # Development: one generated secret kept under the data directory, so that every gunicorn
    # worker and every restart agree on it. Never used in production.
    path = data_dir / "dev-jwt-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def startup_warnings(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """What an operator should hear once, when the service starts (`houston serve`, `houston
    worker`), and not from every worker, CLI command or shutdown hook that reads the settings."""
    env = os.environ if env is None else env
    warnings = []
    if not env.get("JWT_SECRET"):
        warnings.append(
            "JWT_SECRET is not set: using a generated development secret from "
            f"{Path(settings.data_dir) / 'dev-jwt-secret'} (required in production)"
        )
    elif len(settings.jwt_secret) < MIN_SECRET_LENGTH:
        warnings.append(f"JWT_SECRET is shorter than {MIN_SECRET_LENGTH} characters")
    if settings.llm_base_url and not env.get("LLM_MODEL"):
        warnings.append("LLM_BASE_URL is set without LLM_MODEL: using gpt-4o-mini unless a coach names its model")
    if settings.is_production and settings.database_url.startswith("sqlite"):
        warnings.append("HOUSTON_ENV=production on SQLite: fine for one host, not for several")
    return warnings


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` (default: os.environ). The only reader of the environment."""
    env = os.environ if env is None else env
    mode = env.get("HOUSTON_ENV", "development")
    if mode not in ("development", "production", "test"):
        raise ConfigError(f"HOUSTON_ENV must be development, production or test, got {mode!r}")
    production = mode == "production"
    data_dir = Path(env.get("HOUSTON_DATA_DIR", "var"))
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'houston.db'}"
    queues = tuple(q for q in env.get("RQ_QUEUES", "default").split(",") if q.strip())
    return Settings(
        env=mode,
        database_url=database_url,
        redis_url=env.get("REDIS_URL") or None,
        jwt_secret=_jwt_secret(env, production, data_dir),
        jwt_issuer=env.get("JWT_ISSUER", "houston"),
        jwt_audience=env.get("JWT_AUDIENCE", "houston-api"),
        access_token_ttl=_int(env, "ACCESS_TOKEN_TTL_SECONDS", 15 * 60, minimum=1),
        refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600, minimum=1),
        bcrypt_rounds=_int(env, "BCRYPT_ROUNDS", 12, minimum=4),
        max_content_length=_int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        prices_file=env.get("PRICES_FILE") or str(PACKAGE_DIR / "prices.toml"),
        free_plan_monthly_credits=_int(env, "FREE_PLAN_MONTHLY_CREDITS", 100),
        default_hold_ttl=_int(env, "DEFAULT_HOLD_TTL_SECONDS", 15 * 60, minimum=1),
        queues=tuple(q.strip() for q in queues) or ("default",),
        data_dir=str(data_dir),
        host=env.get("HOST", "127.0.0.1"),
        port=_int(env, "PORT", 8000, minimum=1),
        web_concurrency=_int(env, "WEB_CONCURRENCY", 2, minimum=1),
        web_threads=_int(env, "WEB_THREADS", 1 if production else 4, minimum=1),
        db_connect_timeout=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 3, minimum=1),
        db_read_timeout=_int(env, "DB_READ_TIMEOUT_SECONDS", 5, minimum=1),
        db_write_timeout=_int(env, "DB_WRITE_TIMEOUT_SECONDS", 5, minimum=1),
        db_lock_wait_timeout=_int(env, "DB_LOCK_WAIT_TIMEOUT_SECONDS", 2, minimum=1),
        ready_timeout=_int(env, "READY_TIMEOUT_SECONDS", 2, minimum=1),
        db_sync_wait=_sync_wait(env),
        db_retry_attempts=_int(env, "DB_RETRY_ATTEMPTS", 5, minimum=1),
        api_keys_per_user=_int(env, "API_KEYS_PER_USER", 50, minimum=1),
        **_operations(env),
        **_billing(env, production, data_dir, _own_base_url(env)),
        **_coaching(env),
        **_platform(env),
        **_referrals(env),
    )


def _referrals(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "referral_bonus": _int(env, "REFERRAL_BONUS_CREDITS", 200),
        "referral_referee_bonus": _int(env, "REFERRAL_REFEREE_BONUS_CREDITS", 50),
        "referral_hold_days": _int(env, "REFERRAL_HOLD_DAYS", 14),
        "referral_monthly_cap": _int(env, "REFERRAL_MONTHLY_CAP", 10),
        "subscription_renewal_notice_days": _int(env, "SUBSCRIPTION_RENEWAL_NOTICE_DAYS", 3, minimum=1),
        "retention_platform_events_days": _int(env, "RETENTION_PLATFORM_EVENTS_DAYS", 90, minimum=1),
        "retention_webhook_attempts_days": _int(env, "RETENTION_WEBHOOK_ATTEMPTS_DAYS", 30, minimum=1),
        "retention_read_notifications_days": _int(env, "RETENTION_READ_NOTIFICATIONS_DAYS", 90, minimum=1),
        "retention_batch_size": _int(env, "RETENTION_BATCH_SIZE", 500, minimum=1),
    }


def _operations(env: Mapping[str, str]) -> dict[str, Any]:
    strategy = env.get("RATELIMIT_STRATEGY") or "fixed-window"
    if strategy not in RATELIMIT_STRATEGIES:
        raise ConfigError(f"RATELIMIT_STRATEGY must be one of {', '.join(RATELIMIT_STRATEGIES)}, got {strategy!r}")
    return {
        "ratelimit_enabled": _bool(env, "RATELIMIT_ENABLED", True),
        "ratelimit_strategy": strategy,
        "ratelimit_auth": _limits(env, "RATELIMIT_AUTH", "10/minute;100/hour"),
        "ratelimit_default": _limits(env, "RATELIMIT_DEFAULT", "300/minute"),
        "ratelimit_plans": _plan_limits(env),
        "trusted_proxies": _int(env, "TRUSTED_PROXIES", 0),
        "metrics_enabled": _bool(env, "METRICS_ENABLED", True),
        "metrics_token": env.get("METRICS_TOKEN") or None,
        "metrics_dir": env.get("PROMETHEUS_MULTIPROC_DIR") or None,
    }


def environment_with(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`: what `houston serve` hands to gunicorn."""
    return {**os.environ, **extra}


def _own_base_url(env: Mapping[str, str]) -> str:
    """Where this service answers when nobody says otherwise: http://HOST:PORT, with a wildcard
    bind address (0.0.0.0, ::) read as this machine (127.0.0.1), since a browser cannot open it."""
    host = env.get("HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{_int(env, 'PORT', 8000, minimum=1)}"


def _billing(env: Mapping[str, str], production: bool, data_dir: Path, own_base_url: str) -> dict[str, Any]:
    """Billing's settings (issue 13). With STRIPE_SECRET_KEY the real Stripe gateway is used and,
    in production, STRIPE_WEBHOOK_SECRET is required; without it, the local fake gateway, whose
    events are signed with a development secret kept beside the development JWT secret."""
    secret_key = env.get("STRIPE_SECRET_KEY") or None
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET", "")
    if production and not (secret_key and webhook_secret):
        # Without them the fake gateway and its Pay button would hand out credits for nothing.
        raise ConfigError(
            "HOUSTON_ENV=production needs real payment settings: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET "
            "(the local fake gateway and checkout page never run in production)"
        )
    if not webhook_secret:
        if production and secret_key:
            raise ConfigError("STRIPE_WEBHOOK_SECRET is required with STRIPE_SECRET_KEY in production")
        webhook_secret = _dev_secret(data_dir / "dev-stripe-webhook-secret", prefix="whsec_")
    prices: list[tuple[str, str]] = []
    for pair in (env.get("STRIPE_PRICE_IDS") or "").split(","):
        if not pair.strip():
            continue
        item, sep, price = pair.partition("=")
        if not sep or not item.strip() or not price.strip():
            raise ConfigError(f"STRIPE_PRICE_IDS must look like 'pro=price_123,enterprise=price_456', got {pair!r}")
        prices.append((item.strip(), price.strip()))
    return {
        "catalogue_file": env.get("CATALOGUE_FILE") or str(PACKAGE_DIR / "catalogue.toml"),
        "stripe_secret_key": secret_key,
        "stripe_webhook_secret": webhook_secret,
        "stripe_api_base": env.get("STRIPE_API_BASE") or None,
        "stripe_price_ids": tuple(prices),
        # the fake checkout's URLs: PUBLIC_BASE_URL when set (behind a proxy), else HOST and PORT
        "public_base_url": (env.get("PUBLIC_BASE_URL") or own_base_url).rstrip("/"),
        "billing_reconcile_window_days": _int(env, "BILLING_RECONCILE_WINDOW_DAYS", 30, minimum=1),
    }


def _dev_secret(path: Path, *, prefix: str) -> str:
    """A generated development secret kept in `path`, so every process and restart agree on it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(prefix + secrets.token_urlsafe(32))
    return path.read_text().strip()


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


COACH_SETTLE_WINDOW = 60 + 60 + 60  # the sweep's grace, one sweep period, a margin (seconds)


def _coaching(env: Mapping[str, str]) -> dict[str, Any]:
    """The coaching settings (issue 14): the coach model endpoint, the catalogue, holds and task timeouts."""
    timeout_raw = env.get("LLM_TIMEOUT_SECONDS") or "60"
    try:
        timeout = float(timeout_raw)
    except ValueError:
        raise ConfigError(f"LLM_TIMEOUT_SECONDS must be a number, got {timeout_raw!r}") from None
    if not 0 < timeout <= 3600:
        raise ConfigError(f"LLM_TIMEOUT_SECONDS must be between 0 and 3600, got {timeout}")
    deadline = _seconds(env, "LLM_DEADLINE_SECONDS", 25.0, 1.0, 600.0)
    # A chat hold must outlive the whole settlement window (issue 19, defect 8): the model call,
    # then the sweep's grace (60 s) and one sweep period (60 s) for an answer stored but not yet
    # captured, plus 60 s of margin. A shorter hold would expire first and the answer stay free.
    hold_minimum = int(deadline) + COACH_SETTLE_WINDOW
    hold_ttl = _int(env, "COACH_HOLD_TTL_SECONDS", max(15 * 60, hold_minimum), minimum=hold_minimum)
    base_url = env.get("LLM_BASE_URL") or None
    return {
        "llm_base_url": base_url,
        "llm_api_key": env.get("LLM_API_KEY", ""),
        "llm_model": env.get("LLM_MODEL") or "gpt-4o-mini",
        "llm_timeout": timeout,
        "llm_max_retries": _int(env, "LLM_MAX_RETRIES", 3),
        "coaches_file": env.get("COACHES_FILE") or str(PACKAGE_DIR / "coaches.toml"),
        "coach_min_reply_tokens": _int(env, "COACH_MIN_REPLY_TOKENS", 64, minimum=1),
        "llm_deadline": deadline,
        "sse_heartbeat": _seconds(env, "SSE_HEARTBEAT_SECONDS", 10.0, 0.05, 60.0),
        "coach_hold_ttl": hold_ttl,
        "task_timeout": _int(env, "TASK_TIMEOUT_SECONDS", 10 * 60, minimum=10),
        "task_queue_timeout": _int(env, "TASK_QUEUE_TIMEOUT_SECONDS", 60 * 60, minimum=60),
        "invitation_ttl_days": _invitation_days(env),
    }


def _invitation_days(env: Mapping[str, str]) -> int:
    days = _int(env, "INVITATION_TTL_DAYS", 7, minimum=1)
    if days > 365:
        raise ConfigError(f"INVITATION_TTL_DAYS must be between 1 and 365, got {days}")
    return days


def _platform(env: Mapping[str, str]) -> dict[str, Any]:
    """Outgoing webhooks and notifications (issue 22)."""
    networks = env.get("WEBHOOK_ALLOWED_NETWORKS", "")
    try:
        import ipaddress

        for part in networks.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"WEBHOOK_ALLOWED_NETWORKS must be comma-separated CIDRs, got {networks!r}") from None
    raw_schedule = env.get("WEBHOOK_RETRY_SCHEDULE") or "5,300,1800,7200,18000,36000,36000"
    try:
        schedule = tuple(int(part) for part in raw_schedule.split(",") if part.strip())
        if any(wait < 1 for wait in schedule):
            raise ValueError(raw_schedule)
    except ValueError:
        raise ConfigError(
            f"WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds >= 1, got {raw_schedule!r}"
        ) from None

    def number(name: str, default: float) -> float:
        raw = env.get(name) or str(default)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value <= 0:
            raise ConfigError(f"{name} must be above 0, got {raw!r}")
        return value

    smtp_url = env.get("SMTP_URL") or None
    if smtp_url is None and env.get("SMTP_HOST"):
        from urllib.parse import quote

        user = env.get("SMTP_USER", "")
        auth = f"{quote(user, safe='')}:{quote(env.get('SMTP_PASSWORD', ''), safe='')}@" if user else ""
        tls = (env.get("SMTP_TLS") or "none").lower()  # none | starttls | ssl
        scheme = "smtps" if tls == "ssl" else "smtp"
        smtp_url = f"{scheme}://{auth}{env['SMTP_HOST']}:{env.get('SMTP_PORT') or (465 if tls == 'ssl' else 25)}"
        smtp_url += "?starttls=1" if tls == "starttls" else ""
    return {
        "webhook_allowed_networks": networks,
        "webhook_retry_schedule": schedule,
        "webhook_disable_after_days": number("WEBHOOK_DISABLE_AFTER_DAYS", 5.0),
        "webhook_rotation_overlap_hours": number("WEBHOOK_ROTATION_OVERLAP_HOURS", 24.0),
        "webhook_backlog_max": _int(env, "WEBHOOK_BACKLOG_MAX", 1000, minimum=1),
        "webhook_timeout": number("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        "smtp_url": smtp_url,
        "email_from": env.get("EMAIL_FROM") or "Houston <no-reply@localhost>",
        "low_balance_threshold": _int(env, "LOW_BALANCE_THRESHOLD", 20),
        "low_balance_rearm": _int(env, "LOW_BALANCE_REARM", 50),
        "low_balance_cooldown_hours": number("LOW_BALANCE_COOLDOWN_HOURS", 72.0),
    }
