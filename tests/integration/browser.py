"""A real browser for the tests: Debian's Chromium driven by Selenium through Debian's chromedriver.

Nothing is downloaded at run time: Selenium is given the driver's path (so Selenium Manager never
runs). Without Chromium the browser tests are skipped on a developer's machine, and fail under
CI=true, where `.ci/run` installs it (`apt-get install chromium chromium-driver`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.serving import ROOT, free_port, get

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def require_chromium() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if not missing:
        return
    message = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must run the browser tests)")
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium session (its own profile: no cookies or cache shared)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions", "--window-size=1024,768"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def embedded_serve(data_dir: Path, **env: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`houston migrate` then `houston serve` as `make run` does it: the embedded default (SQLite
    under `data_dir`, the fake gateway and checkout, two workers), on a free port given as PORT
    only (no PUBLIC_BASE_URL: the checkout URLs must follow it)."""
    port = free_port()
    values = {
        **{k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "PUBLIC_BASE_URL", "STRIPE_SECRET_KEY", "JWT_SECRET",
                        "HOUSTON_ENV", "WEB_CONCURRENCY", "WEB_THREADS", "LLM_BASE_URL")},
        "HOUSTON_DATA_DIR": str(data_dir), "PORT": str(port), "BCRYPT_ROUNDS": "4", **env,
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "houston"), "migrate"], cwd=ROOT, env=values, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open(data_dir / "serve.log", "wb")
    process = subprocess.Popen([str(bin_dir / "houston"), "serve"], cwd=ROOT, env=values, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (data_dir / "serve.log").read_text()
            time.sleep(0.2)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
