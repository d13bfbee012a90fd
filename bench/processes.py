"""CPU time and memory of processes, from /proc/<pid>/stat and status (all threads included)."""

import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """The fields after the command name (which may contain spaces): state, ppid, …"""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _all_pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def cpu_times(pids):
    """{pid: CPU seconds} of the processes still alive."""
    times = {}
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
    return times


def _children_by_parent():
    found = {}
    for pid in _all_pids():
        try:
            found.setdefault(int(_stat_fields(pid)[1]), []).append(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def children(parent):
    """The processes whose parent is `parent` (a server's workers)."""
    return sorted(_children_by_parent().get(parent, []))


def process_tree(root):
    """`root` and every process descending from it (the server's main process and its workers)."""
    by_parent = _children_by_parent()
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(by_parent.get(pid, []))
    return tree


def resident_mb(pid):
    """The resident memory of a process (VmRSS of /proc/<pid>/status), in MB of 1,024 kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0  # a zombie has no VmRSS line


def postgres_backends(database):
    """The PostgreSQL backends serving `database` (their title reads "postgres: … user database host …")."""
    found = []
    for pid in _all_pids():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            found.append(pid)
    return found


def cpu_used(before, after):
    """CPU seconds spent between two `cpu_times` snapshots (processes born in between count whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy():
    """CPU seconds the whole machine has spent busy (every core, every process), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND
