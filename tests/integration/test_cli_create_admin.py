"""`houston create-admin` without a terminal: a script, a container, CI (standard input not a TTY)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOUSTON = str(Path(sys.executable).parent / "houston")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {
        **os.environ,
        "HOUSTON_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "JWT_SECRET": "s" * 40,
        "BCRYPT_ROUNDS": "4",
        "HOUSTON_DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    values.pop("REDIS_URL", None)
    subprocess.run([HOUSTON, "migrate"], cwd=ROOT, env=values, check=True, capture_output=True)
    return values


def _houston(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOUSTON, *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL if stdin is None else None,
    )


def test_a_new_admin_without_a_terminal_or_password_stdin_is_a_clear_error(env: dict[str, str]) -> None:
    result = _houston(env, "create-admin", "ops@example.com")
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr and "Traceback" not in result.stderr


def test_promoting_an_existing_user_needs_no_password(env: dict[str, str]) -> None:
    created = _houston(env, "create-admin", "Ops@Example.com", "--password-stdin", stdin="correct horse battery\n")
    assert created.returncode == 0, created.stderr
    again = _houston(env, "create-admin", "OPS@example.com")  # no terminal, no password: promotion
    assert again.returncode == 0, again.stderr
    assert "ops@example.com is an admin" in again.stdout


def test_a_bad_password_or_email_is_a_message_not_a_traceback(env: dict[str, str]) -> None:
    short = _houston(env, "create-admin", "new@example.com", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "password" in short.stderr and "Traceback" not in short.stderr
    bad = _houston(env, "create-admin", "not-an-email")
    assert bad.returncode == 2 and "email" in bad.stderr and "Traceback" not in bad.stderr
