"""`houston`: serve the API, migrate the database, run workers and jobs, administer billing.

Run `houston COMMAND --help` for one command's options. Settings come from the environment
(README, "Configuration"); with none set, the embedded default: SQLite under ./var, no Redis,
the fake payment gateway and the offline coach.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from entrypoints.config import ConfigError, Settings, load_settings, startup_warnings
from entrypoints.logs import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"houston: configuration error: {error}", file=sys.stderr)
        return 2
    long_running = args.handler in (_serve, _worker, _cron)
    # One-shot commands print their outcome; their INFO lines (events received, jobs done) would
    # bury it, so they log warnings and errors only unless LOG_LEVEL asks for more.
    configure_logging(settings.log_level if long_running or os.environ.get("LOG_LEVEL") else "WARNING")
    if long_running:  # the long-running processes: say it once, at start
        for warning in startup_warnings(settings):
            logging.getLogger("houston").warning(warning)
    return int(args.handler(settings, args) or 0)


def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {raw!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, like \'{"period": "2026-11"}\'')
    return value


JOB_HELP = {
    "ledger.expire_grants": "expire credits past their date, on every account (hourly)",
    "ledger.release_expired_holds": "release holds past their ttl (every minute)",
    "ledger.grant_free_plan_monthly_credits": 'the free plan\'s monthly credits, once per user; payload {"period": "YYYY-MM"}',
    "billing.handle_event": 'handle one stored Stripe event; payload {"event_id": "evt_..."}',
    "billing.reconcile": 'replay missed provider events, report mismatches (daily); payload {"since": "<ISO time>"} (default: the configured window)',
    "coaching.run_task": 'run one queued AI task; payload {"task_id": "..."}',
    "coaching.sweep": "fail stuck tasks, settle interrupted captures (every minute)",
}


def _job_list() -> str:
    from entrypoints.worker.jobs import JOBS

    lines = []
    for name, function in sorted(JOBS.items()):
        summary = JOB_HELP.get(name) or " ".join((function.__doc__ or "").strip().split(".")[0].split())
        lines.append(f"  {name:<40} {summary}")
    return "jobs:\n" + "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="houston", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND", title="commands")

    serve = sub.add_parser(
        "serve",
        help="serve the HTTP API with gunicorn",
        description="Serve the HTTP API with gunicorn (JSON logs on standard error).",
    )
    serve.add_argument("--host", help="default: HOST, else 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: PORT, else 8000")
    serve.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY, else 2")
    serve.add_argument(
        "--threads",
        type=int,
        help="threads per worker; 1 = sync workers (default: WEB_THREADS, else 4; 1 in production)",
    )
    serve.set_defaults(handler=_serve)

    migrate = sub.add_parser(
        "migrate",
        help="upgrade the database schema (default: to head)",
        description="Upgrade DATABASE_URL's schema with the bundled Alembic revisions.",
    )
    migrate.add_argument(
        "--revision", default="head", help="the Alembic revision to upgrade to, like 0004 (default: head, the newest)"
    )
    migrate.set_defaults(handler=_migrate)

    revision = sub.add_parser(
        "make-migration",
        help="autogenerate a revision from adapters/sql/tables.py",
        description="Developers: write a new Alembic revision for what "
        "adapters/sql/tables.py has and the database lacks.",
    )
    revision.add_argument("message", help="a short title, used in the file name")
    revision.set_defaults(handler=_make_migration)

    admin = sub.add_parser("create-admin", help="create an admin, or promote an existing user")
    admin.add_argument("email")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    admin.set_defaults(handler=_create_admin)

    worker = sub.add_parser("worker", help="run an RQ worker with the scheduler (needs REDIS_URL)")
    worker.add_argument(
        "queues",
        nargs="*",
        metavar="QUEUE",
        help="the queues to listen on (default: every queue of RQ_QUEUES, else 'default')",
    )
    worker.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    worker.set_defaults(handler=_worker)

    cron = sub.add_parser(
        "cron", help="enqueue the periodic jobs on their schedule (without REDIS_URL: runs them inline)"
    )
    cron.set_defaults(handler=_cron)

    run_job = sub.add_parser(
        "run-job",
        help="run one job now, in this process (no Redis needed)",
        epilog=_job_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_job.add_argument("name", metavar="JOB", help="one of the jobs listed below")
    run_job.add_argument(
        "--payload",
        default={},
        type=_json_object,
        help='the job\'s input, a JSON object (default: {}); e.g. \'{"period": "2026-11"}\'',
    )
    run_job.set_defaults(handler=_run_job)

    jobs = sub.add_parser("jobs", help="inspect and retry failed jobs (needs REDIS_URL)")
    jobs_sub = jobs.add_subparsers(required=True, metavar="ACTION")
    failed = jobs_sub.add_parser("failed", help="list failed jobs with their errors")
    failed.set_defaults(handler=_jobs_failed)
    requeue = jobs_sub.add_parser("requeue", help="retry one failed job, or all of them")
    target = requeue.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?", help="the id shown by `houston jobs failed`")
    target.add_argument("--all", action="store_true", help="every failed job")
    requeue.set_defaults(handler=_jobs_requeue)

    billing = sub.add_parser("billing", help="billing maintenance (reconcile with the payment provider)")
    billing_sub = billing.add_subparsers(required=True, metavar="ACTION")
    reconcile = billing_sub.add_parser(
        "reconcile", help="replay provider events we missed, retry failed ones, report mismatches"
    )
    reconcile.add_argument(
        "--since",
        default=None,
        help="a window like 3d, 12h, 90m, or an ISO time (default: BILLING_RECONCILE_WINDOW_DAYS, 30d)",
    )
    reconcile.set_defaults(handler=_billing_reconcile)

    from entrypoints.billing_cli import add_commands as add_billing_commands

    add_billing_commands(sub)  # simulate-payment (development only)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    host, port = args.host or settings.host, args.port or settings.port
    workers = args.workers or settings.web_concurrency
    threads = args.threads or settings.web_threads
    argv = [gunicorn, "wsgi:app", "--bind", f"{host}:{port}", "--workers", str(workers)]
    if threads > 1:  # the command line overrides gunicorn_conf's sync worker class
        argv += ["--worker-class", "entrypoints.gunicorn_worker.JsonErrorThreadWorker", "--threads", str(threads)]
    # No gunicorn access log: the app logs each request once, as a JSON line (entrypoints/http/app.py).
    # gunicorn 27 opens a control socket at one fixed path per host; two instances would share it.
    argv += ["--no-control-socket"]
    # issue 19: gunicorn's worker timeout follows the coach model's deadline (Settings.worker_timeout)
    argv += ["--timeout", str(settings.worker_timeout)]
    from entrypoints.config import environment_with

    # The workers read their settings from the environment: --host/--port reach them as HOST/PORT,
    # so that the fake checkout's URLs (PUBLIC_BASE_URL unset) name the address actually served.
    extra = {"HOST": host, "PORT": str(port)}
    if settings.metrics_enabled:  # issue 15: one Prometheus directory shared by the workers
        import tempfile

        from entrypoints.gunicorn_hooks import prepare_metrics_dir

        directory = prepare_metrics_dir(settings.metrics_dir or tempfile.mkdtemp(prefix="houston-metrics-"))
        extra["PROMETHEUS_MULTIPROC_DIR"] = directory
    # Request limits, the worker class that answers gunicorn's own rejections in JSON, and the
    # hooks that keep the metrics directory.
    argv += ["--config", "python:entrypoints.gunicorn_conf"]
    os.execve(gunicorn, argv, environment_with(**extra))
    return 0  # not reached


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    if settings.log_level != "DEBUG":  # Alembic's INFO lines (plugins, one per revision) are noise here
        logging.getLogger("alembic").setLevel(logging.WARNING)
    from adapters.sql.migrate import upgrade

    if settings.database_url.startswith("memory:"):
        print("houston: memory storage has no schema to migrate", file=sys.stderr)
        return 0
    upgrade(settings.database_url, args.revision)
    print(f"houston: database at {args.revision}")
    return 0


def _make_migration(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.sql.migrate import make_revision

    make_revision(settings.database_url, args.message)
    return 0


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    """Promote an existing user (no password needed), or create a new admin with a password read
    from --password-stdin or, on a terminal only, asked for. Never a traceback for bad input."""
    from domain.shared.errors import DomainError
    from entrypoints.bootstrap import bootstrap

    identity = bootstrap(settings).identity
    try:
        user = identity.promote_admin(args.email)
        if user is None:
            password = _new_admin_password(args)
            if password is None:
                print(
                    "houston: no user has this email, so a new admin needs a password: pass it on standard "
                    "input with --password-stdin (there is no terminal to ask on)",
                    file=sys.stderr,
                )
                return 2
            user = identity.create_admin(args.email, password)
    except DomainError as error:
        details = "; ".join(f"{k}: {v}" for k, v in error.details.items())
        print(f"houston: {error.message}" + (f" ({details})" if details else ""), file=sys.stderr)
        return 2
    print(f"houston: {user.email} is an admin (id {user.id})")
    return 0


def _new_admin_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        return None
    return getpass.getpass("Password for the new admin: ")


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.commands import start_worker

    return start_worker(settings, args.queues or list(settings.queues), burst=args.burst)


def _cron(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.commands import start_cron

    return start_cron(settings)


def _run_job(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.commands import run_job_now

    return run_job_now(settings, args.name, args.payload)


def _jobs_failed(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.commands import list_failed

    return list_failed(settings)


def _jobs_requeue(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.commands import requeue_failed

    return requeue_failed(settings, None if args.all else args.job_id)


def _billing_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.commands import reconcile_command

    return reconcile_command(settings, args.since)


if __name__ == "__main__":
    raise SystemExit(main())
