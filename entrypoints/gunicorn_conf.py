"""gunicorn settings for `houston serve` (`-c python:entrypoints.gunicorn_conf`): chosen, not defaults.

Request limits, enforced by gunicorn before the app (answers in API.md's error shape through
JsonErrorSyncWorker):
- `limit_request_line = 2048` bytes (414 past it). Our longest URL is a list with a cursor
  (at most 200 characters), `limit` and a filter: about 300 bytes. 2048 leaves room for new
  filters and stays far below what proxies allow (nginx: 8 kB).
- `limit_request_fields = 64` headers (431 past it). Clients send about 10, proxies add a few.
- `limit_request_field_size = 8190` bytes per header line (431 past it). An access token is about
  400 bytes; 8 kB is what nginx and most load balancers accept, so a request they pass fits here.
Bodies are bounded by the app (`MAX_CONTENT_LENGTH`, 413).

Bind address, port, worker count and threads come from `houston serve` (HOST, PORT,
WEB_CONCURRENCY, WEB_THREADS). `worker_class` below is production's sync worker (WEB_THREADS=1,
behind a buffering proxy); with more threads, the default outside production, `houston serve`
passes `--worker-class entrypoints.gunicorn_worker.JsonErrorThreadWorker --threads N` instead,
which a browser's idle speculative connections cannot starve (README, "Serving a browser").
This module reads no environment: entrypoints/config.py is the only reader.
"""

worker_class = "entrypoints.gunicorn_worker.JsonErrorSyncWorker"
limit_request_line = 2048
limit_request_fields = 64
limit_request_field_size = 8190
# A request waits on a frozen database for at most about twice DB_READ_TIMEOUT_SECONDS (10 s by
# default), then answers 503; a coach model call ends within LLM_DEADLINE_SECONDS (25 s by
# default). gunicorn kills a worker only after both: `houston serve` passes `--timeout
# Settings.worker_timeout` (deadline + 2 x DB_READ_TIMEOUT_SECONDS + 5 s), derived from the same
# settings (issue 19); a command-line value wins over this file. 40 is that value for the defaults.
timeout = 40
graceful_timeout = 30

# The Prometheus multiprocess directory's upkeep (issue 15): harmless when metrics are off.
from entrypoints.gunicorn_hooks import child_exit, on_exit  # noqa: E402,F401
