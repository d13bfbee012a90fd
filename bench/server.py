"""A WSGI application under gunicorn or granian, bound to 127.0.0.1, for the length of a
`with` block: the provider (wsgi.py) or the framework floor (bench/floor_app.py), both
with the same settings in one run so that their figures compare.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from processes import children, process_tree

REPOSITORY = Path(__file__).resolve().parent.parent
BENCH = REPOSITORY / "bench"

# What each application is: its WSGI target, the folder it is imported from, a page
# that answers 200 once it is ready.
APPLICATIONS = {
    "provider": ("wsgi:app", REPOSITORY, "/.well-known/openid-configuration"),
    "floor": ("floor_app:app", BENCH, "/hello"),
}


@dataclass(frozen=True)
class ServerSettings:
    """The WSGI server and its settings, shared by the provider and the floor."""

    server: str  # "gunicorn" or "granian"
    worker_class: str  # gunicorn's only
    workers: int
    threads: int
    keep_alive: int  # gunicorn's only: granian keeps HTTP/1.1 connections open without a timeout

    def command(self, target, port):
        if self.server == "granian":
            return [sys.executable, "-m", "granian", *self._granian_arguments(port), target]
        return [sys.executable, "-m", "gunicorn", target, *self._gunicorn_arguments(port)]

    def _gunicorn_arguments(self, port):
        arguments = ["--bind", f"127.0.0.1:{port}", "--worker-class", self.worker_class, "--workers", str(self.workers)]
        arguments += ["--keep-alive", str(self.keep_alive)]
        if self.worker_class == "gthread":
            arguments += ["--threads", str(self.threads)]
        return arguments

    def _granian_arguments(self, port):
        # WSGI calls run on the blocking threads, as gthread's requests run on its threads;
        # HTTP/1 only, as gunicorn speaks (no guessing of HTTP/2 on each connection).
        arguments = ["--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port), "--workers", str(self.workers)]
        return [*arguments, "--blocking-threads", str(self.threads), "--http", "1", "--no-ws", "--log-level", "warning"]


@dataclass(frozen=True)
class Server:
    name: str  # "provider" or "floor"
    pid: int
    host: str
    port: int
    command: list[str]

    @property
    def address(self):
        return (self.host, self.port)

    def processes(self):
        """The server's whole process tree, whose CPU time is the server's."""
        return process_tree(self.pid)

    def workers(self):
        """The worker processes: the children of gunicorn's master or of granian's main process."""
        return children(self.pid)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_tail(log_path, lines=30):
    return "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-lines:])


def _wait_until_ready(process, port, path, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{_log_tail(log_path)}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{_log_tail(log_path)}")


def stop_tree(process):
    """Stop the server gracefully, then kill whatever of its tree is left (no stray workers)."""
    tree = process_tree(process.pid)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in tree[1:]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def serve(name, settings, environment, port, log_path, cpus=None):
    """Run application `name` ("provider" or "floor") with `settings` on `port`; `cpus`
    (e.g. "1") pins the server's processes to those cores with taskset."""
    target, folder, ready_path = APPLICATIONS[name]
    command = settings.command(target, port)
    pinned = ["taskset", "--cpu-list", cpus] if cpus else []
    with open(log_path, "w") as log:
        process = subprocess.Popen(pinned + command, cwd=folder, env=os.environ | environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(process, port, ready_path, log_path)
        yield Server(name, process.pid, "127.0.0.1", port, [*pinned, settings.server, *command[3:]])
    finally:
        stop_tree(process)
