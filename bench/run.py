"""Benchmark of the provider against the issue's targets: discovery, JWKS, refresh and
userinfo as ratios to the framework floor (a bare Flask application under the same
server, measured in alternating slices), the full password login per server core, and
optionally the workers' memory after many logins; under gunicorn, granian, or both.

    .venv/bin/python bench/run.py                      # PostgreSQL when reachable, else SQLite
    .venv/bin/python bench/run.py --database sqlite --pairs 3
    .venv/bin/python bench/run.py --server both --memory-logins 10000
    .venv/bin/python bench/run.py --profile userinfo   # where the server's time goes

See bench/README.md for the options and the meaning of every column.
"""

import argparse
import os
import platform
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import distribution
from importlib.util import find_spec
from pathlib import Path

import redis
from argon2 import PasswordHasher
from idp.config import load

import database
from load import Crowd, measure
from memory import memory_after_logins
from processes import postgres_backends
from profiling import CLOCKS, profile
from report import comparison_table, detail_table, figure_table, figures, memory_table, paired, ratio_table, save, summarize
from scenarios import PROVIDER_SCENARIOS, SCENARIOS
from server import REPOSITORY, ServerSettings, free_port, serve

# A Redis database of its own, so the benchmark's throttling counters never meet a provider's.
REDIS_URL = "redis://127.0.0.1:6379/1"
SERVERS = {"gunicorn": ["gunicorn"], "granian": ["granian"], "both": ["gunicorn", "granian"]}


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["auto", "postgresql", "sqlite"], default="auto", help="auto: PostgreSQL when reachable")
    parser.add_argument("--server", choices=list(SERVERS), default="gunicorn", help="the WSGI server; both: one after the other, compared")
    parser.add_argument("--scenarios", default=",".join(PROVIDER_SCENARIOS), help=f"comma-separated, among {', '.join(SCENARIOS)}")
    parser.add_argument("--clients", default="1,8", help="concurrent clients, comma-separated (default 1,8)")
    parser.add_argument("--pairs", type=int, default=4, help="slices of a hot path and of its floor, in turns (default 4 pairs)")
    parser.add_argument("--slice", type=float, default=2.5, help="measured seconds of one slice (default 2.5)")
    parser.add_argument("--lead-in", type=float, default=0.5, help="unmeasured seconds of load before each slice (default 0.5)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds of a scenario without a floor: login (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds when the clients start (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each case this many times, keep the median")
    parser.add_argument("--memory-logins", type=int, default=0, help="then log in this many times and read the workers' memory (0: no)")
    parser.add_argument("--accounts", type=int, default=400, help="parent accounts to seed (default 400)")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread", help="gunicorn's worker class")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2, one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker: gthread's, granian's blocking threads (default 4)")
    parser.add_argument("--keep-alive", type=int, default=5, help="gunicorn keep-alive seconds (default 5)")
    parser.add_argument("--redis-url", default=None, help=f"throttling store (default {REDIS_URL} when it answers; '' for memory)")
    parser.add_argument("--profile", choices=PROVIDER_SCENARIOS, help="profile this scenario in-process instead of measuring")
    parser.add_argument("--profile-count", type=int, default=200, help="operations to profile (default 200)")
    parser.add_argument("--profile-clock", choices=list(CLOCKS), default="cpu", help="cpu (default) or wall: also the waits")
    parser.add_argument("--top", type=int, default=25, help="functions to show in a profile (default 25)")
    options = parser.parse_args()
    unknown = set(options.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if "granian" in SERVERS[options.server] and find_spec("granian") is None:
        parser.error("granian is not installed: pip install -e '.[bench]'")
    return options


def choose_database(choice, directory):
    if choice == "auto":
        choice = "postgresql" if database.postgres_reachable() else "sqlite"
    if choice == "postgresql":
        return choice, database.fresh_postgres_database()
    return choice, database.fresh_sqlite_database(directory)


def two_ports():
    """Free ports for the provider and the floor (the kernel may offer the same one twice)."""
    provider = free_port()
    floor = free_port()
    while floor == provider:
        floor = free_port()
    return {"provider": provider, "floor": floor}


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


@dataclass
class Bench:
    """What every measurement of one invocation shares."""

    options: object
    kind: str  # the database: "postgresql" or "sqlite"
    settings: dict
    environment: dict
    seed: object
    ports: dict  # {"provider": port, "floor": port}
    directory: Path
    argon2: dict  # argon2_check's figures

    def watchers(self, server):
        """{label: function giving pids}: the server's processes, and the database's backends."""
        watched = {"server": server.processes}
        if self.kind == "postgresql":
            watched["database"] = lambda: postgres_backends(database.DATABASE_NAME)
        return watched

    def serve(self, name, server_settings):
        log = self.directory / f"{server_settings.server}-{name}.log"
        return serve(name, server_settings, self.environment, self.ports[name], log)


def benchmark(bench, server_kind):
    """Every scenario under one server; returns the rows of its detail table and the memory figure."""
    options = bench.options
    settings = ServerSettings(server_kind, options.worker_class, options.workers, options.threads, options.keep_alive)
    levels = [int(level) for level in options.clients.split(",")]
    paired_runs, absolute_runs, ratios, details, absolute = [], [], [], [], []
    with bench.serve("provider", settings) as provider, bench.serve("floor", settings) as floor:
        servers = {"provider": provider, "floor": floor}
        print(f"\n{server_kind}: {shlex.join(provider.command)}\n{' ' * len(server_kind)}  {shlex.join(floor.command)}", flush=True)
        for name in options.scenarios.split(","):
            for clients in levels:
                if SCENARIOS[name].floor:
                    runs = against_floor(bench, name, clients, servers)
                    paired_runs += runs
                    chosen = sorted(runs, key=lambda run: run.ratio.ratio)[len(runs) // 2]
                    ratios.append(chosen.ratio)
                    details += chosen.combined
                else:
                    runs = [alone(bench, name, clients, servers[SCENARIOS[name].server]) for _ in range(options.repeat)]
                    absolute_runs += runs
                    chosen = sorted(runs, key=lambda row: row.per_server_core)[len(runs) // 2]
                    absolute.append(chosen)
                    details.append(chosen)
        context = describe_run(bench, settings, provider, floor)
    memory = None
    if options.memory_logins:
        with bench.serve("provider", settings) as provider:
            memory = memory_after_logins(provider, bench.seed, options.memory_logins, max(levels), bench.watchers(provider))
    found = figures(ratios, absolute, memory)
    document = context | {
        "figures": found,
        "ratios": ratios,
        "results": details,
        "memory": memory,
        "every_run": {"against_floor": paired_runs, "alone": absolute_runs},
    }
    report(document, details, ratios, memory, found)
    return details, memory


def against_floor(bench, name, clients, servers):
    """`--repeat` runs of `--pairs` pairs of slices: the hot path and its floor in turns."""
    options, floor_name = bench.options, SCENARIOS[name].floor
    provider, floor = servers["provider"], servers["floor"]
    runs = []
    with Crowd(name, bench.seed, clients, provider.address, options.warmup, bench.watchers(provider)) as hot:
        hot.ready()  # warmed up on its own, before the floor's clients start theirs
        with Crowd(floor_name, bench.seed, clients, floor.address, options.warmup, bench.watchers(floor)) as base:
            for _ in range(options.repeat):
                slices = [measure_pair(hot, base, number, options) for number in range(options.pairs)]
                run = paired(name, clients, slices)
                ratio = run.ratio
                print(
                    f"  {name} x{clients}: {ratio.per_core} per core, {floor_name} {ratio.floor_per_core}: "
                    f"ratio {ratio.ratio} ({ratio.lowest}–{ratio.highest}), {ratio.errors} errors",
                    flush=True,
                )
                runs.append(run)
    return runs


def measure_pair(hot, base, number, options):
    """One slice of each; every other pair the floor goes first (ABBA), so that a drift of
    the machine over the run weighs on both sides alike."""
    if number % 2:
        floor_slice = base.slice(options.slice, options.lead_in)
        return hot.slice(options.slice, options.lead_in), floor_slice
    hot_slice = hot.slice(options.slice, options.lead_in)
    return hot_slice, base.slice(options.slice, options.lead_in)


def alone(bench, name, clients, server):
    """A scenario without a floor (the login): one window of `--duration` seconds."""
    options = bench.options
    measurement = measure(name, bench.seed, clients, server.address, options.duration, options.warmup, bench.watchers(server))
    row = summarize(name, clients, measurement)
    print(f"  {name} x{clients}: {row.throughput} {row.unit}, {row.per_server_core} per core, p99 {row.p99_ms} ms, {row.errors} errors")
    return row


def report(document, details, ratios, memory, found):
    print(f"\n{document['date']}  {document['machine']['processor']}, {document['machine']['cpus']} cores, commit {document['commit']}")
    print(f"{document['command']}\n{shlex.join(document['provider'])}\n{shlex.join(document['floor'])}\n")
    print(f"Every measurement (each scenario's slices added up; a floor's row under its hot path's):\n{detail_table(details)}\n")
    if ratios:
        print(f"Hot paths ÷ floor (ratio: median over the pairs of slices of the per-core rates):\n{ratio_table(ratios)}\n")
    if memory:
        print(f"Resident memory of each worker ({memory.clients} clients logging in):\n{memory_table(memory)}\n")
    print(f"The issue's figures under {document['server']}:\n{figure_table(found)}")
    print(f"\nresults: {save(document)}")


def describe_run(bench, settings, provider, floor):
    options = bench.options
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(sys.orig_argv),
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "processor": _processor(), "python": platform.python_version()},
        "database": bench.kind,
        "throttling": bench.settings["REDIS_URL"] or "memory",
        "accounts": options.accounts,
        "server": settings.server,
        "provider": provider.command,
        "floor": floor.command,
        "argon2": {key: bench.settings[f"ARGON2_{key.upper()}"] for key in ("time_cost", "memory_cost", "parallelism")} | bench.argon2,
        "pairs": options.pairs,
        "slice": options.slice,
        "lead_in": options.lead_in,
        "duration": options.duration,
        "warmup": options.warmup,
        "repeat": options.repeat,
    }


def argon2_check(settings, checks=10):
    """What one password check costs here (median CPU of `checks`), and which build of
    argon2 does it: PyPI's portable wheel, or one built here (scripts/build_argon2.sh)."""
    hasher = PasswordHasher(settings["ARGON2_TIME_COST"], settings["ARGON2_MEMORY_COST"], parallelism=settings["ARGON2_PARALLELISM"])
    stored = hasher.hash("a password")
    costs = []
    for _ in range(checks):
        began = time.process_time()
        hasher.verify(stored, "a password")
        costs.append(time.process_time() - began)
    wheel = distribution("argon2-cffi-bindings").read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    portable = any("manylinux" in tag or "musllinux" in tag for tag in tags)
    build = "PyPI's portable build" if portable else "built for this processor"
    return {"check_ms": round(statistics.median(costs) * 1000, 1), "build": build, "wheel_tags": tags}


def _processor():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    options = arguments()
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as directory:
        kind, url = choose_database(options.database, directory)
        ports = two_ports()
        overrides = {
            "ISSUER": f"http://127.0.0.1:{ports['provider']}",
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
        argon2 = argon2_check(settings)
        print(f"argon2id: {argon2['check_ms']} ms of CPU per check, {argon2['build']}")
        if options.profile:
            profile(options.profile, settings, seed, options.profile_count, options.top, options.profile_clock)
            return
        bench = Bench(options, kind, settings, environment, seed, ports, Path(directory), argon2)
        outcomes = {server: benchmark(bench, server) for server in SERVERS[options.server]}
        if len(outcomes) > 1:
            compare_servers(outcomes)


def compare_servers(outcomes):
    details = {server: rows for server, (rows, _) in outcomes.items()}
    print(f"\nPer-core rates by server (each scenario's slices added up):\n{comparison_table(details)}")
    for server, (_, memory) in outcomes.items():
        if memory:
            largest = max(worker.after_mb for worker in memory.workers)
            print(f"{server}: at most {largest:.1f} MB per worker after {memory.logins:,} logins")


if __name__ == "__main__":
    main()
