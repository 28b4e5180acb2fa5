"""The domain imports no framework, driver or SDK: checked at run time, in a fresh interpreter.

import-linter (`make test`) checks the import statements; this checks what importing every
domain module actually loads, which also catches imports hidden in a dependency or done lazily
at module level.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = (
    "flask",
    "flask_smorest",
    "marshmallow",
    "werkzeug",
    "sqlalchemy",
    "pymysql",
    "stripe",
    "rq",
    "redis",
    "jwt",
    "bcrypt",
    "openai",
    "httpx",
)
ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, pkgutil, sys
import domain
modules = ["domain"]
for info in pkgutil.walk_packages(domain.__path__, "domain.", onerror=lambda name: sys.exit(f"cannot import {name}")):
    importlib.import_module(info.name)
    modules.append(info.name)
forbidden = json.loads(sys.argv[1])
loaded = sorted(name for name in sys.modules if name.split(".")[0] in forbidden)
print(json.dumps({"modules": modules, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, list[str]]:
    """Import every module under domain/ in a fresh interpreter; report them and what they loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(FORBIDDEN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_importing_every_domain_module_loads_no_framework_driver_or_sdk(probe: dict[str, list[str]]) -> None:
    assert probe["loaded"] == []


def test_the_purity_probe_imported_the_whole_domain(probe: dict[str, list[str]]) -> None:
    modules = set(probe["modules"])
    on_disk = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "domain").rglob("*.py")
    }
    assert len(modules) >= 20
    assert modules == on_disk
    assert {"domain.ledger.services", "domain.identity.services", "domain.shared.clock"} <= modules
