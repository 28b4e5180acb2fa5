"""`houston --help` and each command's help say what there is (issue 21: the top-level help listed
an old set of commands, `run-job --help` no job names, `worker`'s queues and `migrate --revision`
no help text); a bad --payload is a usage error, not a traceback."""

from __future__ import annotations

import argparse

import pytest

from entrypoints.cli import _parser, main
from entrypoints.worker.jobs import JOBS


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def commands() -> list[str]:
    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def test_the_top_level_help_lists_every_command_and_only_those(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    listed = sorted(
        line.split()[0]
        for line in text.split("commands:")[1].splitlines()
        if line.startswith("    ") and not line.startswith("     ")
    )
    assert listed == commands()
    assert "simulate-payment" in listed and "billing" in listed and "cron" in listed


def test_run_job_help_lists_every_job(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "run-job")
    assert [name for name in sorted(JOBS) if name not in text] == []
    assert "coaching.sweep" in text


@pytest.mark.parametrize(
    ("command", "phrase"),
    [
        ("worker", "the queues to listen on"),
        ("migrate", "the Alembic revision to upgrade to"),
        ("simulate-payment", "--end-period"),
        ("serve", "--threads"),
    ],
)
def test_each_option_has_help(capsys: pytest.CaptureFixture[str], command: str, phrase: str) -> None:
    assert phrase in help_of(capsys, command)


@pytest.mark.parametrize("payload", ["not json", "[1, 2]"])
def test_a_bad_payload_is_a_usage_error(capsys: pytest.CaptureFixture[str], payload: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run-job", "ledger.expire_grants", "--payload", payload])
    assert exited.value.code == 2
    assert "--payload" in capsys.readouterr().err


def test_migrate_says_one_line_and_no_warning(tmp_path, monkeypatch, capfd) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: every migrate printed seven Alembic INFO lines and the JWT_SECRET warning."""
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("HOUSTON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("HOUSTON_ENV", "development")

    assert main(["migrate"]) == 0

    out, err = capfd.readouterr()
    assert out == "houston: database at head\n"
    assert err == ""
