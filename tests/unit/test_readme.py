"""The README stands alone and stays true (issue 21): no links into files a clone lacks, the
schedule table lists every periodic job, the command table every `houston` command, and the
configuration table every variable the code reads."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from entrypoints.cli import _parser
from entrypoints.worker.schedule import SCHEDULE

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    following = README.find("\n## ", start + 1)
    return README[start : following if following != -1 else None]


def test_the_readme_points_at_no_file_outside_the_repository() -> None:
    assert re.findall(r"\.\./[\w./-]+", README) == []
    for path in re.findall(r"`((?:domain|adapters|entrypoints|tests|bench|migrations|\.ci)/[\w./-]+\.\w+)`", README):
        assert (ROOT / path).exists(), path


def test_the_schedule_table_lists_every_periodic_job() -> None:
    table = section("Background jobs and the worker")
    assert [p.job_name for p in SCHEDULE if f"| `{p.job_name}` |" not in table] == []


def test_the_command_table_lists_every_houston_command() -> None:
    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    table = section("The houston command")
    assert [name for name in sub.choices if f"`houston {name}" not in table] == []


def test_the_configuration_table_lists_every_variable_the_code_reads() -> None:
    source = (ROOT / "entrypoints" / "config.py").read_text()
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'_int\(env, "([A-Z_]+)"', source)
    )
    table = section("Configuration")
    assert read and sorted(name for name in read if f"`{name}`" not in table) == []
