"""The provider under gunicorn, bound to 127.0.0.1, for the length of a `with` block."""

import http.client
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class GunicornSettings:
    worker_class: str
    workers: int
    threads: int
    keep_alive: int

    def arguments(self):
        arguments = ["--worker-class", self.worker_class, "--workers", str(self.workers), "--keep-alive", str(self.keep_alive)]
        if self.worker_class == "gthread":
            arguments += ["--threads", str(self.threads)]
        return arguments


@dataclass(frozen=True)
class Server:
    pid: int
    host: str
    port: int
    command: list[str]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_tail(log_path, lines=30):
    return "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-lines:])


def _wait_until_ready(process, port, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{_log_tail(log_path)}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/.well-known/openid-configuration")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{_log_tail(log_path)}")


@contextmanager
def gunicorn(settings, environment, port, log_path):
    command = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", *settings.arguments()]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPOSITORY, env=os.environ | environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(process, port, log_path)
        yield Server(process.pid, "127.0.0.1", port, ["gunicorn", *command[3:]])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
