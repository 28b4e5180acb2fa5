"""The installed package, not the checkout (issue 21): build the wheel, install it into a fresh
venv in a directory outside the checkout, migrate an empty database and serve `/ready`.

Before the fix the wheel carried neither `migrations/versions/` (`houston migrate` said "at
head" and created no tables) nor `catalogue.toml` and `coaches.toml` (FileNotFoundError at start).

Slow (a venv and an install, about a minute; pip's cache makes it offline-fast): it runs in
`make test` and CI, like every other test.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from tests.fixtures.serving import ROOT, free_port, get

RUNTIME_FILES = (
    "entrypoints/catalogue.toml",
    "entrypoints/coaches.toml",
    "entrypoints/prices.toml",
    "migrations/script.py.mako",
    "migrations/env.py",
    "wsgi.py",
)


def run(*argv: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def test_the_wheel_installs_outside_the_checkout_migrates_and_serves(tmp_path: Path) -> None:
    source = tmp_path / "source"  # setuptools writes build/ beside the sources: not into the checkout
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".schemathesis"
        ),
    )
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source)
    [wheel] = dist.glob("houston-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    versions = sorted(n for n in names if n.startswith("migrations/versions/") and n.endswith(".py"))
    in_checkout = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    assert [Path(n).name for n in versions] == [p.name for p in in_checkout]
    assert not [f for f in RUNTIME_FILES if f not in names]

    home = tmp_path / "elsewhere"  # not the checkout: nothing can be read from beside the sources
    home.mkdir()
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=home)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "PUBLIC_BASE_URL", "STRIPE_SECRET_KEY", "LLM_BASE_URL", "PYTHONPATH", "HOUSTON_ENV")
    }
    port = free_port()
    env.update(
        DATABASE_URL=f"sqlite:///{home / 'houston.db'}",
        HOUSTON_DATA_DIR=str(home / "var"),
        PORT=str(port),
        WEB_CONCURRENCY="1",
    )
    houston = venv / "bin" / "houston"
    run(houston, "migrate", cwd=home, env=env)
    with sqlite3.connect(home / "houston.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "ledger_entries", "billing_payments", "coaching_sessions"} <= tables, tables

    log = open(home / "serve.log", "w")
    server = subprocess.Popen([str(houston), "serve"], cwd=home, env=env, stdout=log, stderr=log)
    try:
        deadline, status = time.monotonic() + 60, 0
        while status != 200:
            assert server.poll() is None and time.monotonic() < deadline, (home / "serve.log").read_text()
            try:
                status = get(port, "/ready")[0]
            except OSError:
                time.sleep(0.3)
        assert get(port, "/v1/billing/packs")[0] == 200  # catalogue.toml was found
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
