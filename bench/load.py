"""The load generator: one process per virtual client, each with its own keep-alive
connection, all measured over the same window while the server's CPU is sampled.

Processes rather than threads, so that the clients never queue behind one another's
Python; a bare-socket HTTP client rather than requests or http.client, so that a request
costs the client some 60 µs of CPU and leaves the two cores to the server.
"""

import multiprocessing
import threading
import time
import traceback
from dataclasses import dataclass

from processes import cpu_times, cpu_used, machine_busy
from scenarios import SCENARIOS, UnexpectedReply
from transport import KeepAliveTransport

ERRORS = (UnexpectedReply, OSError, KeyError, ValueError)


@dataclass
class Measurement:
    latencies: list[float]
    errors: list[str]
    seconds: float
    client_cpu: float
    cpu: dict[str, float]
    machine_cpu: float


def _client(name, seed, index, clients, address, warmup, barrier, window, results):
    try:
        results.put(("done", _run_client(name, seed, index, clients, address, warmup, barrier, window)))
    except Exception:
        results.put(("failed", traceback.format_exc()))
        barrier.abort()


def _run_client(name, seed, index, clients, address, warmup, barrier, window):
    transport = KeepAliveTransport(*address)
    scenario = SCENARIOS[name](seed, index, clients)
    scenario.prepare(transport)
    warm_until = time.monotonic() + warmup
    while time.monotonic() < warm_until:
        scenario.run_once(transport)
    # A fresh connection: the old one may idle past the server's keep-alive while we wait.
    transport.reconnect()
    barrier.wait()  # every client is ready
    barrier.wait()  # the window is set
    start, end = window[:]
    time.sleep(max(0.0, start - time.monotonic()))
    latencies, errors = [], []
    cpu_start = time.process_time()
    while time.monotonic() < end:
        began = time.perf_counter()
        try:
            scenario.run_once(transport)
        except ERRORS as error:
            errors.append(f"{type(error).__name__}: {error}")
            transport.reconnect()
            scenario.prepare(transport)
            continue
        finished = time.perf_counter()
        if time.monotonic() <= end:
            latencies.append(finished - began)
    return latencies, errors, time.process_time() - cpu_start


def measure(name, seed, clients, address, duration, warmup, processes_to_watch):
    """Run `clients` virtual clients of scenario `name` for `duration` seconds after warming up.

    `processes_to_watch` maps a label to a function returning the pids whose CPU to count.
    """
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients + 1)
    window = context.Array("d", 2)
    results = context.Queue()
    workers = [
        context.Process(target=_client, args=(name, seed, index, clients, address, warmup, barrier, window, results))
        for index in range(clients)
    ]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=warmup + 120)
        start = time.monotonic() + 0.05
        window[:] = [start, start + duration]
        barrier.wait(timeout=10)
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a {name} client failed before the measurement:\n{_first_failure(results)}") from None
    time.sleep(start - time.monotonic())
    before = {label: cpu_times(pids()) for label, pids in processes_to_watch.items()}
    busy_before = machine_busy()
    time.sleep(start + duration - time.monotonic())
    busy_after = machine_busy()
    after = {label: cpu_times(pids()) for label, pids in processes_to_watch.items()}
    seconds = time.monotonic() - start
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    latencies, errors, client_cpu = [], [], 0.0
    for status, outcome in outcomes:
        if status == "failed":
            raise RuntimeError(f"a {name} client failed:\n{outcome}")
        latencies += outcome[0]
        errors += outcome[1]
        client_cpu += outcome[2]
    cpu = {label: cpu_used(before[label], after[label]) for label in processes_to_watch}
    return Measurement(latencies, errors, seconds, client_cpu, cpu, busy_after - busy_before)


def _first_failure(results):
    while not results.empty():
        status, outcome = results.get()
        if status == "failed":
            return outcome
    return "(no traceback)"
