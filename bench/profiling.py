"""Where the server's time goes in one scenario: the application in-process, driven by
the Flask test client through the same scenario code, timed per HTTP step (wall clock and
CPU), then under cProfile, grouped by package and by function.

The profile counts CPU time by default, since the targets are per server core; with
`clock="wall"` it also counts the waits for PostgreSQL and Redis. In-process figures leave
out gunicorn's own work (sockets, HTTP parsing), and cProfile inflates pure-Python code
against C calls (argon2, libpq): read them as shares.
"""

import cProfile
import pstats
import re
import time
from collections import Counter, defaultdict
from urllib.parse import urlsplit

import psycopg
from idp import create_app
from idp.extensions import db
from idp.oidc.fast_path import LazilyDescribedCursor
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from scenarios import SCENARIOS
from transport import TestClientTransport

REPOSITORY_PACKAGES = ("idp", "bench")


class TimedTransport:
    """Wraps a transport and adds up the time of each kind of request."""

    def __init__(self, transport):
        self.transport = transport
        self.wall = defaultdict(float)
        self.cpu = defaultdict(float)
        self.calls = defaultdict(int)

    def send(self, method, path, body=None, headers=None):
        began, began_cpu = time.perf_counter(), time.process_time()
        reply = self.transport.send(method, path, body, headers)
        label = f"{method} {urlsplit(path).path} → {reply.status}"
        if reply.location:
            label += " " + urlsplit(reply.location)._replace(query="").geturl()
        self.wall[label] += time.perf_counter() - began
        self.cpu[label] += time.process_time() - began_cpu
        self.calls[label] += 1
        return reply

    def reconnect(self):
        self.transport.reconnect()


class StatementCounter:
    """Counts the SQL the application sends, by statement and by transaction event.

    On PostgreSQL it counts at the driver, so that it also sees the hot statements run on
    the driver's cursor (idp.oidc.connection): a BEGIN is a statement sent outside
    autocommit when no transaction is open, a COMMIT or ROLLBACK one that ends a transaction.
    """

    def __init__(self, engine):
        self.counts = Counter()
        self.pre_ping = engine.pool._pre_ping
        if engine.dialect.name == "postgresql":
            self._watch_driver()
            return
        event.listen(engine, "before_cursor_execute", lambda *args: self._statement(args[2]))
        for name in ("begin", "commit", "rollback"):
            event.listen(engine, name, lambda connection, name=name: self.counts.update([name.upper()]))

    def _watch_driver(self):
        counts, statement = self.counts, self._statement
        execute = LazilyDescribedCursor.execute

        def counted_execute(cursor, query, *args, **kwargs):
            connection = cursor.connection
            if not connection.autocommit and connection.info.transaction_status == TransactionStatus.IDLE:
                counts["BEGIN"] += 1
            statement(str(query))
            return execute(cursor, query, *args, **kwargs)

        LazilyDescribedCursor.execute = counted_execute
        for name in ("commit", "rollback"):
            end = getattr(psycopg.Connection, name)

            def counted_end(connection, end=end, name=name):
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    counts[name.upper()] += 1
                return end(connection)

            setattr(psycopg.Connection, name, counted_end)

    def _statement(self, statement):
        text = " ".join(statement.split())
        outer_from = _outer_from(text)
        if text.startswith("SELECT") and outer_from is not None:
            text = "SELECT … FROM " + text[outer_from + len(" FROM ") :]  # noqa: S608 (a label to print)
        self.counts[re.sub(r"%\(\w+\)s", "?", text)[:100]] += 1

    def print(self, count):
        print("\nSQL per operation" + (" (plus a pool pre-ping round trip per request)" if self.pre_ping else ""))
        for statement, times in self.counts.most_common():
            print(f"  {times / count:>5.2f}  {statement}")


def _outer_from(text):
    """Where the statement's own ` FROM ` is: the first one outside parentheses (its
    columns may hold subqueries)."""
    depth = 0
    for index, character in enumerate(text):
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        elif depth == 0 and text.startswith(" FROM ", index):
            return index
    return None


def _run(scenario, transport, count):
    for _ in range(count):
        scenario.run_once(transport)


def _package(filename):
    if filename == "~":
        return "(C built-ins)"
    parts = filename.replace("\\", "/").split("/")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for package in REPOSITORY_PACKAGES:
        if package in parts:
            return package
    return "(standard library)"


def _short(function):
    filename, line, name = function
    if filename == "~":
        return name
    parts = filename.split("/")
    for anchor in ("site-packages", *REPOSITORY_PACKAGES):
        if anchor in parts:
            parts = parts[parts.index(anchor) + (anchor == "site-packages") :]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{line} {name}"


def _print_steps(timed, count):
    wall, cpu = sum(timed.wall.values()), sum(timed.cpu.values())
    print(f"\nIn-process, per operation: {wall / count * 1000:.2f} ms wall clock, {cpu / count * 1000:.2f} ms CPU", end="")
    print(f" (at most {count / cpu:.0f} per second per core without gunicorn)")
    print(f"{'step':<70} {'per op':>7} {'wall ms':>8} {'CPU ms':>7} {'CPU share':>9}")
    for label, seconds in sorted(timed.cpu.items(), key=lambda item: -item[1]):
        calls, wall_ms, cpu_ms = timed.calls[label] / count, timed.wall[label] / count * 1000, seconds / count * 1000
        print(f"{label[:70]:<70} {calls:>7.2f} {wall_ms:>8.2f} {cpu_ms:>7.2f} {seconds / cpu:>9.1%}")


def _print_profile(profiler, count, top, clock):
    stats = pstats.Stats(profiler).stats
    total = sum(own for _, _, own, _, _ in stats.values())
    packages = defaultdict(float)
    for function, (_, _, own, _, _) in stats.items():
        packages[_package(function[0])] += own
    print(f"\nOwn {clock} time by package (cProfile, {total / count * 1000:.2f} ms/op with profiling overhead)")
    for package, own in sorted(packages.items(), key=lambda item: -item[1])[:top]:
        print(f"  {own / total:>6.1%}  {own / count * 1000:>7.3f} ms/op  {package}")
    own = sorted(stats.items(), key=lambda item: -item[1][2])
    cumulative = sorted(stats.items(), key=lambda item: -item[1][3])
    provider = [item for item in cumulative if _package(item[0][0]) == "idp"]
    for title, column, ranked in (
        ("Own time: top functions", 2, own),
        ("Cumulative time: top functions", 3, cumulative),
        ("Cumulative time in the provider's own functions (idp/)", 3, provider),
    ):
        print(f"\n{title}")
        print(f"  {'share':>6}  {'ms/op':>7}  {'calls/op':>8}  function")
        for function, values in ranked[:top]:
            print(f"  {values[column] / total:>6.1%}  {values[column] / count * 1000:>7.3f}  {values[1] / count:>8.1f}  {_short(function)}")


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def profile(name, settings, seed, count, top, clock="cpu"):
    app = create_app(settings)
    scenario = SCENARIOS[name](seed, 0, 1)
    timed = TimedTransport(TestClientTransport(app))
    scenario.prepare(timed.transport)
    _run(scenario, timed.transport, max(3, count // 10))  # warm caches and connections
    with app.app_context():
        statements = StatementCounter(db.engine)
    _run(scenario, timed, count)
    _print_steps(timed, count)
    statements.print(count)
    profiler = cProfile.Profile(CLOCKS[clock])
    profiler.runcall(_run, scenario, timed.transport, count)
    _print_profile(profiler, count, top, clock)
