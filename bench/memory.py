"""Resident memory of the provider's workers after many logins (the issue's ≤ 150 MB each).

A login is what weighs on a worker's memory: every password check allocates argon2id's
19 MiB, in whichever thread serves it, and the allocator may keep that memory afterwards.
The workers are read once the server answers and again after the logins.
"""

import time

from load import Crowd
from processes import resident_mb
from report import WorkerMemory, memory_result

TARGET_MB = 150
# The logins go in slices, so that progress shows; no slice is longer than this.
LONGEST_SLICE = 20.0


def memory_after_logins(server, seed, logins, clients, processes_to_watch):
    """Log in `logins` times (at least) on `server` with `clients` clients; return a MemoryResult."""
    workers = server.workers()
    started = _settled(workers)
    done, errors, rate = 0, 0, None
    with Crowd("login", seed, clients, server.address, 0.0, processes_to_watch) as crowd:
        while done < logins:
            # About what is left at the rate seen so far: the count overshoots by little.
            seconds = 3.0 if rate is None else min(LONGEST_SLICE, max(1.0, (logins - done) / rate))
            began = time.monotonic()
            measurement = crowd.slice(seconds)
            done += len(measurement.latencies)
            errors += len(measurement.errors)
            rate = max(1.0, len(measurement.latencies) / (time.monotonic() - began))
            print(f"  memory: {done:,} logins, {errors} errors", flush=True)
    if sorted(server.workers()) != sorted(workers):
        raise RuntimeError("a worker was replaced during the logins: its memory would not be the workers' after them")
    measured = [WorkerMemory(pid, round(started[pid], 1), round(resident_mb(pid), 1)) for pid in workers]
    return memory_result(done, clients, errors, measured, TARGET_MB)


def _settled(workers, patience=10.0):
    """{pid: MB} once no worker grows any more: the server answers as soon as one worker
    has loaded the provider, while the others may still be importing it."""
    deadline = time.monotonic() + patience
    found = {pid: resident_mb(pid) for pid in workers}
    while time.monotonic() < deadline:
        time.sleep(0.5)
        previous, found = found, {pid: resident_mb(pid) for pid in workers}
        if all(found[pid] - previous[pid] < 0.5 for pid in workers):
            break
    return found
