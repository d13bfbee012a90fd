"""Where the server's time goes in one scenario: the application in-process, driven by
the Flask test client through the same scenario code, timed per HTTP step, then under
cProfile, grouped by package and by function.

In-process figures leave out gunicorn's own work (socket, HTTP parsing) and cProfile
inflates pure-Python code against C calls (argon2, libpq); read them as shares.
"""

import cProfile
import pstats
import time
from collections import defaultdict
from urllib.parse import urlsplit

from scenarios import SCENARIOS
from transport import TestClientTransport

REPOSITORY_PACKAGES = ("idp", "bench")


class TimedTransport:
    """Wraps a transport and adds up the time of each kind of request."""

    def __init__(self, transport):
        self.transport = transport
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)

    def send(self, method, path, body=None, headers=None):
        began = time.perf_counter()
        reply = self.transport.send(method, path, body, headers)
        label = f"{method} {urlsplit(path).path} → {reply.status}"
        if reply.location:
            label += " " + urlsplit(reply.location)._replace(query="").geturl()
        self.seconds[label] += time.perf_counter() - began
        self.calls[label] += 1
        return reply

    def reconnect(self):
        self.transport.reconnect()


def _run(scenario, transport, count):
    began = time.perf_counter()
    for _ in range(count):
        scenario.run_once(transport)
    return time.perf_counter() - began


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


def _print_steps(timed, count, total):
    print(f"\nIn-process time per operation: {total / count * 1000:.2f} ms ({count / total:.0f} per second on one core)")
    print(f"{'step':<70} {'per op':>7} {'ms/op':>7} {'share':>6}")
    for label, seconds in sorted(timed.seconds.items(), key=lambda item: -item[1]):
        print(f"{label[:70]:<70} {timed.calls[label] / count:>7.2f} {seconds / count * 1000:>7.2f} {seconds / total:>6.1%}")


def _print_profile(profiler, count, top):
    stats = pstats.Stats(profiler).stats
    total = sum(own for _, _, own, _, _ in stats.values())
    packages = defaultdict(float)
    for function, (_, _, own, _, _) in stats.items():
        packages[_package(function[0])] += own
    print(f"\nOwn time by package (cProfile, {total / count * 1000:.2f} ms/op with profiling overhead)")
    for package, own in sorted(packages.items(), key=lambda item: -item[1])[:top]:
        print(f"  {own / total:>6.1%}  {own / count * 1000:>7.3f} ms/op  {package}")
    for title, column in (("Own time", 2), ("Cumulative time", 3)):
        print(f"\n{title}: top {top} functions")
        print(f"  {'share':>6}  {'ms/op':>7}  {'calls/op':>8}  function")
        ranked = sorted(stats.items(), key=lambda item: -item[1][column])[:top]
        for function, values in ranked:
            print(f"  {values[column] / total:>6.1%}  {values[column] / count * 1000:>7.3f}  {values[1] / count:>8.1f}  {_short(function)}")


def profile(name, settings, seed, count, top):
    from idp import create_app

    app = create_app(settings)
    scenario = SCENARIOS[name](seed, 0, 1)
    timed = TimedTransport(TestClientTransport(app))
    scenario.prepare(timed.transport)
    _run(scenario, timed.transport, max(3, count // 10))  # warm caches and connections
    _print_steps(timed, count, _run(scenario, timed, count))
    profiler = cProfile.Profile()
    profiler.runcall(_run, scenario, timed.transport, count)
    _print_profile(profiler, count, top)
