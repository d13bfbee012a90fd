"""Graceful overload (issue 20): the login capacity of one core alone, then four times that
rate of new browsers; prints the issue's four figures.

    .venv/bin/python bench/overload.py                 # PostgreSQL when reachable, else SQLite
    .venv/bin/python bench/overload.py --factor 4 --duration 20 --core 1

1. The provider runs under gunicorn with deploy/gunicorn.conf.py (gthread), one worker of
   `--threads` threads, pinned with taskset to one core (`--core`, the last one by default); the load generator is pinned
   to the others. PostgreSQL and Redis run where the system puts them.
2. **Capacity alone**: `--clients` closed-loop clients log in over and over (each waits for
   its answer) for `--duration` seconds, with the overload guard off
   (IDP_OVERLOAD_LOGINS=0): the logins per second the core serves when it is kept busy
   without being overloaded.
3. **Overload**: the provider is started again with the guard of the settings
   (IDP_OVERLOAD_LOGINS, 2 by default), and new browsers arrive at `--factor` times that
   capacity for `--duration` seconds, open loop (bench/open_loop.py): each arrival is one
   login, served, refused (503 « Trop de connexions… »), timed out (no answer within
   `--timeout` s) or failed.

The four figures and their targets: logins served per second ≥ 90 % of the capacity alone;
served logins' p99 (the whole login, three requests) < 1 s; refused ones answered (the time
of the refused request) with a p99 < 50 ms; no request timed out. They are written with the
command to bench/results/<date>-overload.json.
"""

import argparse
import json
import math
import os
import secrets
import shlex
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from idp.config import load

import database
from load import measure
from open_loop import FAILED, REFUSED, SERVED, TIMED_OUT, drive, percentile
from processes import cpu_times, cpu_used, machine_busy, postgres_backends
from report import RESULTS, summarize
from run import argon2_check, choose_database, git_commit
from server import REPOSITORY, free_port, serve

DEPLOYED = REPOSITORY / "deploy" / "gunicorn.conf.py"


@dataclass(frozen=True)
class Deployed:
    """gunicorn as deploy/gunicorn.conf.py runs it, with one worker and `threads` threads."""

    threads: int
    server: str = "gunicorn"

    def command(self, target, port):
        arguments = ["--config", str(DEPLOYED), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(self.threads)]
        return [sys.executable, "-m", "gunicorn", *arguments]


TARGETS = {"served_share": 0.90, "served_p99_ms": 1000, "refused_p99_ms": 50, "timed_out": 0}


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)), help="the core the provider runs on (default: the last)")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads of the one worker (default 8, as deploy/gunicorn.conf.py)")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop clients measuring the capacity alone (default 4)")
    parser.add_argument("--factor", type=float, default=4.0, help="the overload, as a multiple of the capacity alone (default 4)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds of each phase (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before the capacity's window (default 2)")
    parser.add_argument("--processes", type=int, default=0, help="open-loop client processes (default: enough for the rate)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds without an answer that count as timed out (default 30)")
    parser.add_argument("--accounts", type=int, default=400, help="parent accounts to seed (default 400)")
    parser.add_argument("--redis-url", default="", help="throttling store (default: memory)")
    parser.add_argument(
        "--overload-logins", type=int, default=None, help="IDP_OVERLOAD_LOGINS for the overload phase (default: the setting's)"
    )
    return parser.parse_args()


def main():
    options = arguments()
    others = set(os.sched_getaffinity(0)) - {options.core}
    if not others:
        sys.exit("one core only: the load generator needs another one than the provider's")
    with tempfile.TemporaryDirectory(prefix="idp-overload-") as directory:
        kind, url = choose_database(options.database, directory)
        port = free_port()
        overrides = {
            "ISSUER": f"http://127.0.0.1:{port}",
            "DATABASE_URL": url,
            "KEYS_DIR": str(Path(directory) / "keys"),
            "SECRET_KEY": secrets.token_hex(32),
            "REDIS_URL": options.redis_url,
        }
        environment = {f"IDP_{key}": str(value) for key, value in overrides.items()}
        print(f"database: {kind} ({url}); throttling: {options.redis_url or 'memory'}", flush=True)
        database.migrate(environment)
        settings = load(overrides)
        seed = database.seed(settings, options.accounts)
        argon2 = argon2_check(settings)
        print(f"seeded {len(seed.identifiers)} accounts; argon2id: {argon2['check_ms']} ms of CPU per check, {argon2['build']}")
        os.sched_setaffinity(0, others)  # the load generator's processes inherit it
        server = Deployed(options.threads)
        guard = options.overload_logins if options.overload_logins is not None else settings["OVERLOAD_LOGINS"]

        def provider(limit, label):
            log = Path(directory) / f"{label}.log"
            return serve("provider", server, environment | {"IDP_OVERLOAD_LOGINS": str(limit)}, port, log, cpus=str(options.core))

        def watched(running):
            found = {"server": running.processes}
            if kind == "postgresql":
                found["database"] = lambda: postgres_backends(database.DATABASE_NAME)
            return found

        with provider(0, "capacity") as running:
            print(f"\nprovider: {shlex.join(running.command)} (IDP_OVERLOAD_LOGINS=0)", flush=True)
            alone = summarize(
                "login",
                options.clients,
                measure("login", seed, options.clients, running.address, options.duration, options.warmup, watched(running)),
            )
        print(
            f"capacity alone, {options.clients} clients: {alone.throughput} logins/s, p99 {alone.p99_ms} ms, "
            f"{alone.server_cores} server cores, {alone.errors} errors",
            flush=True,
        )
        rate = alone.throughput * options.factor
        processes = options.processes or max(16, math.ceil(rate * 0.4))
        with provider(guard, "overload") as running:
            print(f"\nprovider: {shlex.join(running.command)} (IDP_OVERLOAD_LOGINS={guard})", flush=True)
            print(
                f"overload: {rate:.1f} new browsers/s ({options.factor:g}x) for {options.duration:g} s, {processes} client processes",
                flush=True,
            )
            sampled = {}

            def sample_cpu(start):
                import time

                time.sleep(max(0.0, start - time.time()))
                sampled["before"], sampled["busy_before"] = cpu_times(running.processes()), machine_busy()
                time.sleep(options.duration)
                sampled["after"], sampled["busy_after"] = cpu_times(running.processes()), machine_busy()

            outcomes = drive(
                seed, running.address, rate, options.duration, processes, timeout=options.timeout, cpus=others, during=sample_cpu
            )
        found = figures(alone, outcomes, options.duration, cpu_used(sampled["before"], sampled["after"]) / options.duration)
        found["machine_busy_cores"] = round((sampled["busy_after"] - sampled["busy_before"]) / options.duration, 2)
        document = {
            "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": shlex.join(sys.orig_argv),
            "commit": git_commit(),
            "database": kind,
            "core": options.core,
            "threads": options.threads,
            "overload_logins": guard,
            "argon2": argon2,
            "capacity_alone": alone.__dict__,
            "offered_per_second": round(rate, 1),
            "processes": processes,
            "figures": found,
        }
        report(document)


def figures(alone, outcomes, seconds, server_cores):
    by_result = Counter(outcome.result for outcome in outcomes)
    served = [outcome.seconds for outcome in outcomes if outcome.result == SERVED]
    refused = [outcome.seconds for outcome in outcomes if outcome.result == REFUSED]
    served_rate = len(served) / seconds
    share = served_rate / alone.throughput if alone.throughput else 0.0
    return {
        "arrivals": len(outcomes),
        "served": by_result[SERVED],
        "refused": by_result[REFUSED],
        "timed_out": by_result[TIMED_OUT],
        "failed": by_result[FAILED],
        "refused_at": dict(Counter(o.detail for o in outcomes if o.result == REFUSED)),
        "refused_p99_ms_at": {
            step: round(percentile([o.seconds for o in outcomes if o.result == REFUSED and o.detail == step], 0.99) * 1000, 1)
            for step in sorted({o.detail for o in outcomes if o.result == REFUSED})
        },
        "first_failures": [detail for detail, _ in Counter(o.detail for o in outcomes if o.result == FAILED).most_common(3)],
        "served_per_second": round(served_rate, 1),
        "served_share": round(share, 3),
        "served_p50_ms": round(percentile(served, 0.50) * 1000, 1),
        "served_p99_ms": round(percentile(served, 0.99) * 1000, 1),
        "refused_p50_ms": round(percentile(refused, 0.50) * 1000, 1),
        "refused_p99_ms": round(percentile(refused, 0.99) * 1000, 1),
        "generator_lag_p99_ms": round(percentile([outcome.lag for outcome in outcomes], 0.99) * 1000, 1),
        "server_cores": round(server_cores, 2),
        "verdicts": {
            "served_share": share >= TARGETS["served_share"],
            "served_p99_ms": percentile(served, 0.99) * 1000 < TARGETS["served_p99_ms"],
            "refused_p99_ms": percentile(refused, 0.99) * 1000 < TARGETS["refused_p99_ms"],
            "timed_out": by_result[TIMED_OUT] == TARGETS["timed_out"],
        },
    }


def report(document):
    found, alone = document["figures"], document["capacity_alone"]
    verdict = {key: "PASS" if passed else "FAIL" for key, passed in found["verdicts"].items()}
    print(f"\n{document['date']}  commit {document['commit']}\n{document['command']}\n")
    print(
        f"capacity of one core alone: {alone['throughput']} logins/s ({alone['clients']} closed-loop clients, p99 {alone['p99_ms']} ms; "
        f"server {alone['server_cores']} cores, database {alone['db_cores']}, others' processes {alone['other_cores']} of {os.cpu_count()})"
    )
    print(
        f"offered {document['offered_per_second']} new browsers/s: {found['arrivals']} arrivals, {found['served']} served, "
        f"{found['refused']} refused, {found['timed_out']} timed out, {found['failed']} failed; "
        f"server {found['server_cores']} cores, the whole machine {found['machine_busy_cores']} of {os.cpu_count()}; "
        f"generator lag p99 {found['generator_lag_p99_ms']} ms"
    )
    print(f"refused at: {found['refused_at']}, their p99 in ms: {found['refused_p99_ms_at']}")
    if found["first_failures"]:
        print("first failures: " + "; ".join(found["first_failures"]))
    rows = [
        (
            "logins served per second",
            f"{found['served_per_second']} ({found['served_share']:.0%} of alone)",
            "≥ 90 % of alone",
            verdict["served_share"],
        ),
        ("served logins' p99", f"{found['served_p99_ms']} ms (p50 {found['served_p50_ms']})", "< 1000 ms", verdict["served_p99_ms"]),
        (
            "refused ones answered in, p99",
            f"{found['refused_p99_ms']} ms (p50 {found['refused_p50_ms']})",
            "< 50 ms",
            verdict["refused_p99_ms"],
        ),
        ("requests timed out", str(found["timed_out"]), "0", verdict["timed_out"]),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    print(f"\nAt {document['offered_per_second'] / alone['throughput']:.1f}x the capacity of one core:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now():%Y-%m-%dT%H%M%S}-overload.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
