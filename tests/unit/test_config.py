"""Settings come from the environment once, with safe defaults and loud refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entrypoints.config import ConfigError, load_settings

STRONG = "s" * 40


def test_the_embedded_default_needs_no_environment(tmp_path: Path) -> None:
    settings = load_settings({"HOUSTON_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'houston.db'}"
    assert settings.redis_url is None
    assert settings.access_token_ttl == 900 and settings.refresh_token_ttl == 30 * 24 * 3600


def test_production_refuses_to_start_without_a_jwt_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET is required"):
        load_settings({"HOUSTON_ENV": "production", "HOUSTON_DATA_DIR": str(tmp_path)})


def test_production_refuses_a_short_jwt_secret() -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings({"HOUSTON_ENV": "production", "JWT_SECRET": "short"})


def test_development_generates_one_secret_and_keeps_it(tmp_path: Path) -> None:
    first = load_settings({"HOUSTON_DATA_DIR": str(tmp_path)}).jwt_secret
    second = load_settings({"HOUSTON_DATA_DIR": str(tmp_path)}).jwt_secret
    assert first == second and len(first) >= 32
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o077 == 0


def test_a_number_that_is_not_a_number_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="BCRYPT_ROUNDS"):
        load_settings({"JWT_SECRET": STRONG, "BCRYPT_ROUNDS": "twelve"})


def test_an_unknown_environment_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="HOUSTON_ENV"):
        load_settings({"JWT_SECRET": STRONG, "HOUSTON_ENV": "staging"})


def test_every_documented_variable_is_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "JWT_SECRET": STRONG,
            "DATABASE_URL": "mysql+pymysql://u@h/db",
            "REDIS_URL": "redis://h/1",
            "RQ_QUEUES": "high, default",
            "ACCESS_TOKEN_TTL_SECONDS": "60",
            "BCRYPT_ROUNDS": "4",
            "MAX_CONTENT_LENGTH": "2048",
            "FREE_PLAN_MONTHLY_CREDITS": "7",
            "PORT": "9000",
            "WEB_CONCURRENCY": "3",
            "DEFAULT_HOLD_TTL_SECONDS": "30",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings.queues == ("high", "default")
    assert (settings.access_token_ttl, settings.bcrypt_rounds, settings.max_content_length) == (60, 4, 2048)
    assert (settings.free_plan_monthly_credits, settings.port, settings.web_concurrency) == (7, 9000, 3)
    assert (settings.default_hold_ttl, settings.log_level, settings.redis_url) == (30, "DEBUG", "redis://h/1")


def test_the_env_example_lists_every_variable_the_code_reads() -> None:
    source = (Path(__file__).parents[2] / "entrypoints" / "config.py").read_text()
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'_int\(env, "([A-Z_]+)"', source)
    )
    assert read, "found no variables: the pattern is wrong"
    missing = sorted(name for name in read if f"{name}=" not in example)
    assert missing == []


def test_no_secret_appears_in_the_settings_repr() -> None:
    """Settings end up in logs and tracebacks: their repr must not carry a secret."""
    env = {
        "JWT_SECRET": "jwt-" + "s" * 40,
        "STRIPE_SECRET_KEY": "sk_test_secretkey",
        "METRICS_TOKEN": "metrics-secret",
        "STRIPE_WEBHOOK_SECRET": "whsec_webhooksecret",
        "LLM_API_KEY": "llm-secret-key",
        "HOUSTON_DATA_DIR": "/tmp/houston-repr",
    }
    shown = repr(load_settings(env))
    for secret in ("jwt-ssss", "sk_test_secretkey", "metrics-secret", "whsec_webhooksecret", "llm-secret-key"):
        assert secret not in shown


def test_galera_settings_are_read_and_bounded() -> None:
    settings = load_settings({"JWT_SECRET": STRONG, "DB_SYNC_WAIT": "3", "DB_RETRY_ATTEMPTS": "10"})
    assert (settings.db_sync_wait, settings.db_retry_attempts) == (3, 10)
    assert load_settings({"JWT_SECRET": STRONG}).db_sync_wait == 1  # causal reads on Galera by default
    for bad in ({"DB_SYNC_WAIT": "16"}, {"DB_SYNC_WAIT": "-1"}, {"DB_RETRY_ATTEMPTS": "0"}):
        with pytest.raises(ConfigError):
            load_settings({"JWT_SECRET": STRONG, **bad})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8600"}, "http://127.0.0.1:8600"),  # issue 21: was 8000 whatever PORT said
        ({"HOST": "0.0.0.0", "PORT": "8601"}, "http://127.0.0.1:8601"),  # a wildcard bind: this machine
        ({"HOST": "localhost", "PORT": "8602"}, "http://localhost:8602"),
        ({"HOST": "::1", "PORT": "8603"}, "http://[::1]:8603"),
        ({"PORT": "8604", "PUBLIC_BASE_URL": "https://api.example.com/"}, "https://api.example.com"),  # set wins
    ],
)
def test_the_public_base_url_follows_host_and_port_unless_set(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    assert load_settings({"JWT_SECRET": STRONG, "HOUSTON_DATA_DIR": str(tmp_path), **env}).public_base_url == expected


def test_reading_the_settings_logs_nothing_the_service_says_its_warnings_once_at_start(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 21: every worker, CLI command and shutdown hook that read the settings printed the
    JWT_SECRET warning. Reading is silent; `houston serve`/`worker`/`cron` log startup_warnings."""
    from entrypoints.config import startup_warnings

    env = {"HOUSTON_DATA_DIR": str(tmp_path), "LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    with caplog.at_level("DEBUG"):
        settings = load_settings(env)
    assert caplog.records == []
    warnings = startup_warnings(settings, env)
    assert [w.split(":")[0] for w in warnings] == ["JWT_SECRET is not set", "LLM_BASE_URL is set without LLM_MODEL"]
    assert startup_warnings(load_settings({"JWT_SECRET": STRONG}), {"JWT_SECRET": STRONG}) == []


def test_threads_default_to_the_gthread_worker_in_development_and_sync_in_production(tmp_path: Path) -> None:
    assert load_settings({"HOUSTON_DATA_DIR": str(tmp_path)}).web_threads == 4
    production = {
        "HOUSTON_ENV": "production",
        "JWT_SECRET": STRONG,
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
    }  # production refuses to start without them (issue 18)
    assert load_settings(production).web_threads == 1
    assert load_settings({"JWT_SECRET": STRONG, "WEB_THREADS": "8"}).web_threads == 8
