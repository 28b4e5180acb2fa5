"""gunicorn hooks for `houston serve` (loaded through `entrypoints.gunicorn_conf`): the
Prometheus multiprocess directory's upkeep.

`houston serve` creates (or empties) the directory and hands it to gunicorn as
PROMETHEUS_MULTIPROC_DIR; every worker writes its values there. When a worker exits, its live
values are retired (`mark_process_dead`; counters and histograms keep counting what it did); when
gunicorn stops, the directory's files go, so the next start counts from zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def metrics_dir() -> str | None:
    from entrypoints.config import load_settings

    return load_settings().metrics_dir


def prepare_metrics_dir(directory: str) -> str:
    """Create `directory`, or empty it of a previous run's files (they would be added in)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return str(path)


def child_exit(server: Any, worker: Any) -> None:
    directory = metrics_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, directory)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    directory = metrics_dir()
    if directory:
        path = Path(directory)
        for leftover in path.glob("*.db"):
            leftover.unlink(missing_ok=True)
        try:
            path.rmdir()  # only when empty: a directory the operator chose may hold other things
        except OSError:
            pass
