"""The composition root and what it builds (issue 26 §2)."""
from __future__ import annotations

import grimp


def test_the_job_registry_does_not_import_the_composition_root() -> None:
    """bootstrap imports the job registry (inline queue); RQ's entry point, which builds the
    container, lives in a module of its own, so no module under bootstrap imports it back."""
    graph = grimp.build_graph("entrypoints", "domain", "adapters")
    for module in ("entrypoints.worker.jobs", "entrypoints.container"):
        chain = graph.find_shortest_chain(importer=module, imported="entrypoints.bootstrap")
        assert chain is None, f"{module} imports the composition root: {' -> '.join(chain or ())}"


def test_jobs_queued_under_the_old_entry_point_name_still_run() -> None:
    from entrypoints.worker import jobs, rq_entry

    assert jobs.execute is rq_entry.execute  # RQ resolves "entrypoints.worker.jobs.execute" by getattr
