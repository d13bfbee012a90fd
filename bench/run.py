"""Benchmark of the provider under gunicorn: full password login, refresh, userinfo,
discovery and JWKS at 1 and 8 concurrent clients, against the issue's targets per core.

    .venv/bin/python bench/run.py                      # PostgreSQL when reachable, else SQLite
    .venv/bin/python bench/run.py --database sqlite --duration 5
    .venv/bin/python bench/run.py --profile userinfo   # where the server's time goes

See bench/README.md for the options and the meaning of every column.
"""

import argparse
import os
import platform
import secrets
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import redis
from idp.config import load

import database
from load import measure
from processes import postgres_backends, process_tree
from profiling import CLOCKS, profile
from report import save, summarize, table
from scenarios import SCENARIOS
from server import REPOSITORY, GunicornSettings, free_port, gunicorn

# A Redis database of its own, so the benchmark's throttling counters never meet a provider's.
REDIS_URL = "redis://127.0.0.1:6379/1"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["auto", "postgresql", "sqlite"], default="auto", help="auto: PostgreSQL when reachable")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario and concurrency (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each measurement (default 2)")
    parser.add_argument("--clients", default="1,8", help="concurrent clients, comma-separated (default 1,8)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, among {', '.join(SCENARIOS)}")
    parser.add_argument("--repeat", type=int, default=1, help="measure each case this many times, keep the median per core")
    parser.add_argument("--accounts", type=int, default=400, help="parent accounts to seed (default 400)")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--keep-alive", type=int, default=5, help="gunicorn keep-alive seconds (default 5)")
    parser.add_argument("--redis-url", default=None, help=f"throttling store (default {REDIS_URL} when it answers; '' for memory)")
    parser.add_argument("--profile", choices=list(SCENARIOS), help="profile this scenario in-process instead of measuring")
    parser.add_argument("--profile-count", type=int, default=200, help="operations to profile (default 200)")
    parser.add_argument("--profile-clock", choices=list(CLOCKS), default="cpu", help="cpu (default) or wall: also the waits")
    parser.add_argument("--top", type=int, default=25, help="functions to show in a profile (default 25)")
    return parser.parse_args()


def choose_database(choice, directory):
    if choice == "auto":
        choice = "postgresql" if database.postgres_reachable() else "sqlite"
    if choice == "postgresql":
        return choice, database.fresh_postgres_database()
    return choice, database.fresh_sqlite_database(directory)


def choose_redis(url):
    if url is not None:
        return url
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return REDIS_URL
    except redis.RedisError:
        return ""


def git_commit():
    """The commit measured, `+changes` when the provider's files differ from it."""

    def git(*arguments):
        return subprocess.run(["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=False).stdout.strip()

    changed = git("status", "--porcelain", "--", "idp", "templates", "wsgi.py")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def benchmark(options, kind, settings, environment, seed, port, log_path):
    gunicorn_settings = GunicornSettings(options.worker_class, options.workers, options.threads, options.keep_alive)
    rows, every_run = [], []
    with gunicorn(gunicorn_settings, environment, port, log_path) as server:
        print(f"server: {shlex.join(server.command)}")
        watched = {"server": lambda: process_tree(server.pid)}
        if kind == "postgresql":
            watched["database"] = lambda: postgres_backends(database.DATABASE_NAME)
        for name in options.scenarios.split(","):
            for clients in [int(level) for level in options.clients.split(",")]:
                runs = [measure_case(options, name, clients, seed, server, watched) for _ in range(options.repeat)]
                every_run += runs
                rows.append(sorted(runs, key=lambda run: run.per_server_core)[len(runs) // 2])
        context = describe_run(options, kind, settings, server)
    print(f"\n{context['date']}  {context['machine']['processor']}, {context['machine']['cpus']} cores, commit {context['commit']}")
    print(f"{context['command']}\n{shlex.join(server.command)}\n")
    print(table(rows))
    print(f"\nresults: {save(rows, every_run, context)}")


def measure_case(options, name, clients, seed, server, watched):
    measurement = measure(name, seed, clients, (server.host, server.port), options.duration, options.warmup, watched)
    row = summarize(name, clients, measurement)
    print(f"  {name} x{clients}: {row.throughput} {row.unit}, {row.per_server_core} per server core, {row.errors} errors", flush=True)
    return row


def describe_run(options, kind, settings, server):
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(sys.orig_argv),
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "processor": _processor(), "python": platform.python_version()},
        "database": kind,
        "throttling": settings["REDIS_URL"] or "memory",
        "accounts": options.accounts,
        "gunicorn": server.command,
        "argon2": {key: settings[f"ARGON2_{key.upper()}"] for key in ("time_cost", "memory_cost", "parallelism")},
        "duration": options.duration,
        "warmup": options.warmup,
    }


def _processor():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    options = arguments()
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as directory:
        kind, url = choose_database(options.database, directory)
        port = free_port()
        overrides = {
            "ISSUER": f"http://127.0.0.1:{port}",
            "DATABASE_URL": url,
            "KEYS_DIR": str(Path(directory) / "keys"),
            "SECRET_KEY": secrets.token_hex(32),
            "REDIS_URL": choose_redis(options.redis_url),
        }
        environment = {f"IDP_{key}": value for key, value in overrides.items()}
        print(f"database: {kind} ({url}); throttling: {overrides['REDIS_URL'] or 'memory'}")
        database.migrate(environment)
        settings = load(overrides)
        seed = database.seed(settings, options.accounts)
        print(f"seeded {len(seed.identifiers)} accounts and client {seed.client_id}")
        if options.profile:
            profile(options.profile, settings, seed, options.profile_count, options.top, options.profile_clock)
            return
        benchmark(options, kind, settings, environment, seed, port, Path(directory) / "gunicorn.log")


if __name__ == "__main__":
    main()
