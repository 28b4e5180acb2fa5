"""Settings, read once from the environment, with safe embedded defaults."""
from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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
    # --- hardening (issue 12): bounded waits on the database, and the readiness probe's own bound
    db_connect_timeout: int = 3
    db_read_timeout: int = 5
    db_write_timeout: int = 5
    db_lock_wait_timeout: int = 2
    ready_timeout: int = 2
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
    # --- coaching (issue 14) ---
    llm_base_url: str | None = None  # unset: the offline scripted coach
    llm_api_key: str = field(default="", repr=False)
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 60.0
    llm_max_retries: int = 3
    coaches_file: str = str(PACKAGE_DIR / "coaches.toml")
    coach_min_reply_tokens: int = 64
    coach_hold_ttl: int = 15 * 60
    task_timeout: int = 10 * 60
    task_queue_timeout: int = 60 * 60
    # --- referrals (issue 24) ---
    referral_bonus: int = 200
    referral_referee_bonus: int = 50
    referral_hold_days: int = 14
    referral_monthly_cap: int = 10

    @property
    def is_production(self) -> bool:
        return self.env == "production"


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
    return tuple((k[len(RATELIMIT_PLAN_PREFIX):].lower(), _limits(env, k, "")) for k in names)


def _jwt_secret(env: Mapping[str, str], production: bool, data_dir: Path) -> str:
    secret = env.get("JWT_SECRET", "")
    if secret:
        if len(secret) < MIN_SECRET_LENGTH:
            if production:
                raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters in production")
            log.warning("JWT_SECRET is shorter than %d characters", MIN_SECRET_LENGTH)
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
    log.warning("JWT_SECRET is not set: using a generated development secret from %s", path)
    return path.read_text().strip()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` (default: os.environ). The only reader of the environment."""
    env = os.environ if env is None else env
    mode = env.get("HOUSTON_ENV", "development")
    if mode not in ("development", "production", "test"):
        raise ConfigError(f"HOUSTON_ENV must be development, production or test, got {mode!r}")
    production = mode == "production"
    data_dir = Path(env.get("HOUSTON_DATA_DIR", "var"))
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'houston.db'}"
    if production and database_url.startswith("sqlite"):
        log.warning("HOUSTON_ENV=production on SQLite: fine for one host, not for several")
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
        db_connect_timeout=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 3, minimum=1),
        db_read_timeout=_int(env, "DB_READ_TIMEOUT_SECONDS", 5, minimum=1),
        db_write_timeout=_int(env, "DB_WRITE_TIMEOUT_SECONDS", 5, minimum=1),
        db_lock_wait_timeout=_int(env, "DB_LOCK_WAIT_TIMEOUT_SECONDS", 2, minimum=1),
        ready_timeout=_int(env, "READY_TIMEOUT_SECONDS", 2, minimum=1),
        api_keys_per_user=_int(env, "API_KEYS_PER_USER", 50, minimum=1),
        **_operations(env),
        **_billing(env, production, data_dir),
        **_coaching(env),
        **_referrals(env),
    )


def _referrals(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "referral_bonus": _int(env, "REFERRAL_BONUS_CREDITS", 200),
        "referral_referee_bonus": _int(env, "REFERRAL_REFEREE_BONUS_CREDITS", 50),
        "referral_hold_days": _int(env, "REFERRAL_HOLD_DAYS", 14),
        "referral_monthly_cap": _int(env, "REFERRAL_MONTHLY_CAP", 10),
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


def _billing(env: Mapping[str, str], production: bool, data_dir: Path) -> dict[str, Any]:
    """Billing's settings (issue 13). With STRIPE_SECRET_KEY the real Stripe gateway is used and,
    in production, STRIPE_WEBHOOK_SECRET is required; without it, the local fake gateway, whose
    events are signed with a development secret kept beside the development JWT secret."""
    secret_key = env.get("STRIPE_SECRET_KEY") or None
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET", "")
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
        "public_base_url": (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
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


def _coaching(env: Mapping[str, str]) -> dict[str, Any]:
    """The coaching settings (issue 14): the coach model endpoint, the catalogue, holds and task timeouts."""
    timeout_raw = env.get("LLM_TIMEOUT_SECONDS") or "60"
    try:
        timeout = float(timeout_raw)
    except ValueError:
        raise ConfigError(f"LLM_TIMEOUT_SECONDS must be a number, got {timeout_raw!r}") from None
    if not 0 < timeout <= 3600:
        raise ConfigError(f"LLM_TIMEOUT_SECONDS must be between 0 and 3600, got {timeout}")
    base_url = env.get("LLM_BASE_URL") or None
    if base_url and not env.get("LLM_MODEL"):
        log.warning("LLM_BASE_URL is set without LLM_MODEL: using gpt-4o-mini unless a coach names its model")
    return {
        "llm_base_url": base_url,
        "llm_api_key": env.get("LLM_API_KEY", ""),
        "llm_model": env.get("LLM_MODEL") or "gpt-4o-mini",
        "llm_timeout": timeout,
        "llm_max_retries": _int(env, "LLM_MAX_RETRIES", 3),
        "coaches_file": env.get("COACHES_FILE") or str(PACKAGE_DIR / "coaches.toml"),
        "coach_min_reply_tokens": _int(env, "COACH_MIN_REPLY_TOKENS", 64, minimum=1),
        "coach_hold_ttl": _int(env, "COACH_HOLD_TTL_SECONDS", 15 * 60, minimum=60),
        "task_timeout": _int(env, "TASK_TIMEOUT_SECONDS", 10 * 60, minimum=10),
        "task_queue_timeout": _int(env, "TASK_QUEUE_TIMEOUT_SECONDS", 60 * 60, minimum=60),
    }
