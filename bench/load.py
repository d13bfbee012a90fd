"""The load generator: one process per virtual client, each with its own keep-alive
connection, all measured over the same windows while the server's CPU is sampled.

Processes rather than threads, so that the clients never queue behind one another's
Python; a bare-socket HTTP client rather than requests or http.client, so that a request
costs the client some 60 µs of CPU and leaves the two cores to the server.

A `Crowd` keeps its clients between measurements: they prepare and warm up once, then
measure one slice after another when told. Two crowds, one on the provider and one on the
floor, thus take turns in short slices without paying their preparation each time.
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
# How long the clients may take to prepare and warm up, or to finish a slice, beyond its length.
PATIENCE = 120


@dataclass
class Measurement:
    latencies: list[float]
    errors: list[str]
    seconds: float
    client_cpu: float
    cpu: dict[str, float]
    machine_cpu: float

    @classmethod
    def combined(cls, measurements):
        """Several slices as one measurement: their operations, seconds and CPU added up."""
        labels = {label for measurement in measurements for label in measurement.cpu}
        return cls(
            latencies=[latency for measurement in measurements for latency in measurement.latencies],
            errors=[error for measurement in measurements for error in measurement.errors],
            seconds=sum(measurement.seconds for measurement in measurements),
            client_cpu=sum(measurement.client_cpu for measurement in measurements),
            cpu={label: sum(measurement.cpu.get(label, 0.0) for measurement in measurements) for label in labels},
            machine_cpu=sum(measurement.machine_cpu for measurement in measurements),
        )


def _client(name, seed, index, clients, address, warmup, barrier, window, results):
    try:
        _run_client(name, seed, index, clients, address, warmup, barrier, window, results)
    except Exception:
        results.put(("failed", traceback.format_exc()))
        barrier.abort()


def _run_client(name, seed, index, clients, address, warmup, barrier, window, results):
    transport = KeepAliveTransport(*address)
    scenario = SCENARIOS[name](seed, index, clients)
    scenario.prepare(transport)
    warm_until = time.monotonic() + warmup
    while time.monotonic() < warm_until:
        scenario.run_once(transport)
    while True:
        # A fresh connection: the old one may idle past the server's keep-alive while we wait.
        transport.reconnect()
        barrier.wait()  # every client is ready
        barrier.wait()  # the window is set
        lead_in, start, end = window[:]
        if end == 0:  # the crowd is dismissed
            return
        results.put(("done", _run_slice(scenario, transport, lead_in, start, end)))


def _run_slice(scenario, transport, lead_in, start, end):
    """Repeat the operation from `lead_in` to `end`; keep those begun at `start` or later."""
    time.sleep(max(0.0, lead_in - time.monotonic()))
    latencies, errors, cpu_start = [], [], None
    while (now := time.monotonic()) < end:
        if cpu_start is None and now >= start:
            cpu_start = time.process_time()
        began = time.perf_counter()
        try:
            scenario.run_once(transport)
        except ERRORS as error:
            errors.append(f"{type(error).__name__}: {error}")
            transport.reconnect()
            scenario.prepare(transport)
            continue
        finished = time.perf_counter()
        if now >= start and time.monotonic() <= end:
            latencies.append(finished - began)
    return latencies, errors, 0.0 if cpu_start is None else time.process_time() - cpu_start


class Crowd:
    """`clients` virtual clients of scenario `name` against `address`, measured slice by slice.

    `processes_to_watch` maps a label to a function returning the pids whose CPU to count.
    """

    def __init__(self, name, seed, clients, address, warmup, processes_to_watch):
        self.name, self.clients, self.warmup = name, clients, warmup
        self.processes_to_watch = processes_to_watch
        context = multiprocessing.get_context("fork")
        self.barrier = context.Barrier(clients + 1)
        self.window = context.Array("d", 3)
        self.results = context.Queue()
        self.workers = [
            context.Process(
                target=_client,
                args=(name, seed, index, clients, address, warmup, self.barrier, self.window, self.results),
                daemon=True,
            )
            for index in range(clients)
        ]
        for worker in self.workers:
            worker.start()
        self.waiting = False  # whether the clients have met at the barrier for the next slice

    def ready(self):
        """Wait until every client has prepared and warmed up (or finished the last slice)."""
        if not self.waiting:
            self._meet(timeout=self.warmup + PATIENCE)
            self.waiting = True

    def slice(self, duration, lead_in=0.0):
        """Measure `duration` seconds, after `lead_in` unmeasured seconds of the same load."""
        self.ready()
        start = time.monotonic() + 0.05 + lead_in
        self.window[:] = [start - lead_in, start, start + duration]
        self._meet(timeout=10)
        self.waiting = False
        time.sleep(max(0.0, start - time.monotonic()))
        before = {label: cpu_times(pids()) for label, pids in self.processes_to_watch.items()}
        busy_before = machine_busy()
        time.sleep(max(0.0, start + duration - time.monotonic()))
        busy_after = machine_busy()
        after = {label: cpu_times(pids()) for label, pids in self.processes_to_watch.items()}
        seconds = time.monotonic() - start
        latencies, errors, client_cpu = [], [], 0.0
        for _ in self.workers:
            status, outcome = self.results.get(timeout=PATIENCE)
            if status == "failed":
                raise RuntimeError(f"a {self.name} client failed:\n{outcome}")
            latencies += outcome[0]
            errors += outcome[1]
            client_cpu += outcome[2]
        cpu = {label: cpu_used(before[label], after[label]) for label in self.processes_to_watch}
        return Measurement(latencies, errors, seconds, client_cpu, cpu, busy_after - busy_before)

    def close(self):
        """Dismiss the clients; those that do not leave in time are terminated."""
        try:
            self.ready()
            self.window[:] = [0.0, 0.0, 0.0]
            self._meet(timeout=10)
        except RuntimeError:
            pass
        for worker in self.workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
                worker.join()

    def _meet(self, timeout):
        try:
            self.barrier.wait(timeout=timeout)
        except threading.BrokenBarrierError:
            raise RuntimeError(f"a {self.name} client failed:\n{self._first_failure()}") from None

    def _first_failure(self):
        while not self.results.empty():
            status, outcome = self.results.get()
            if status == "failed":
                return outcome
        return "(no traceback)"

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


def measure(name, seed, clients, address, duration, warmup, processes_to_watch):
    """Run `clients` virtual clients of scenario `name` for `duration` seconds after warming up."""
    with Crowd(name, seed, clients, address, warmup, processes_to_watch) as crowd:
        return crowd.slice(duration)
