"""A fake JobQueue that only records what it is given: for unit tests that assert on state."""

from __future__ import annotations

from domain.shared.jobs import Job


class RecordingJobQueue:
    """Keeps every enqueued job, in order, and runs none of them.

    Like the real queue it drops a second job carrying a `job_id` it has already seen, so
    tests of de-duplication behave the same on the fake and on Redis.
    """

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.dropped: list[Job] = []

    def enqueue(self, job: Job) -> None:
        if job.job_id is not None and job.job_id in self.job_ids:
            self.dropped.append(job)
            return
        self.jobs.append(job)

    @property
    def job_ids(self) -> list[str]:
        return [job.job_id for job in self.jobs if job.job_id is not None]

    @property
    def names(self) -> list[str]:
        return [job.name for job in self.jobs]

    def clear(self) -> None:
        self.jobs.clear()
        self.dropped.clear()
