"""Instructions per request under gunicorn, counted by callgrind: figures that do not move
with what else the machine is doing, for the requests whose cost is mostly the server's.

Each application (the provider, the framework floor) runs under gunicorn with one gthread
worker, inside valgrind. After a warm-up, the worker's counters are zeroed, the requests are
sent one after the other on one kept-alive connection, and the worker's instructions are
dumped: instructions ÷ requests. `bare` is a WSGI callable answering "hello" in front of
the floor's Flask application: the server's own work per request, which no application
can go below. So a ratio to `hello` cannot exceed hello ÷ bare under this server.

    .venv/bin/python bench/instructions.py                 # discovery, jwks against hello and bare
    .venv/bin/python bench/instructions.py --requests 5000

Needs valgrind (Debian: apt-get install valgrind). Counts user-space instructions of the
worker only (not the kernel's, nor the database's); slower than real time by about 50×.
"""

import argparse
import http.client
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from idp.config import load

import database
from processes import children
from run import choose_database, two_ports
from server import APPLICATIONS, _wait_until_ready, stop_tree

# Path of each measured request, and the application that answers it.
REQUESTS = {
    "discovery": ("provider", "/.well-known/openid-configuration"),
    "jwks": ("provider", "/jwks.json"),
    "hello": ("floor", "/hello"),
    "bare": ("floor", "/bare"),
}
WARM_UP = 200


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per path (default 2000)")
    parser.add_argument("--paths", default=",".join(REQUESTS), help=f"comma-separated, among {', '.join(REQUESTS)}")
    return parser.parse_args()


def _callgrind(pid, action, log):
    subprocess.run(["callgrind_control", action, str(pid)], check=True, stdout=log, stderr=subprocess.STDOUT)


def _send(port, path, count):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for _ in range(count):
        connection.request("GET", path, headers={"User-Agent": "bench"})
        reply = connection.getresponse()
        reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {reply.status}")
    connection.close()


def _dumped_instructions(folder, pid):
    dumps = sorted(folder.glob(f"callgrind.{pid}.*"), key=lambda path: path.stat().st_mtime)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction count in {dumps[-1]}")


def count(application, paths, port, environment, folder, requests):
    """{path: instructions per request} of one application's worker."""
    target, cwd, ready = APPLICATIONS[application]
    server = [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread"]
    server += ["--workers", "1", "--threads", "4", "--keep-alive", "5", "--timeout", "900"]
    valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={folder}/callgrind.%p"]
    log_path = folder / f"{application}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(valgrind + server, cwd=cwd, env=os.environ | environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(process, port, ready, log_path, timeout=600)
            (worker,) = children(process.pid)
            counts = {}
            for name, path in paths.items():
                _send(port, path, WARM_UP)
                _callgrind(worker, "--zero", log)
                _send(port, path, requests)
                _callgrind(worker, "--dump", log)
                counts[name] = _dumped_instructions(folder, worker) / requests
            return counts
        finally:
            stop_tree(process)


def main():
    options = arguments()
    wanted = options.paths.split(",")
    unknown = set(wanted) - set(REQUESTS)
    if unknown:
        sys.exit(f"unknown paths: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="idp-instructions-") as directory:
        folder = Path(directory)
        kind, url = choose_database("auto", directory)
        ports = two_ports()
        overrides = {"ISSUER": f"http://127.0.0.1:{ports['provider']}", "DATABASE_URL": url, "KEYS_DIR": str(folder / "keys")}
        overrides["SECRET_KEY"] = secrets.token_hex(32)
        environment = {f"IDP_{key}": value for key, value in overrides.items()}
        database.migrate(environment)
        load(overrides)
        print(f"database: {kind}; gunicorn gthread, 1 worker, 4 threads, under callgrind; {options.requests} requests per path")
        began = time.monotonic()
        found = {}
        for application in ("provider", "floor"):
            paths = {name: REQUESTS[name][1] for name in wanted if REQUESTS[name][0] == application}
            if paths:
                found |= count(application, paths, ports[application], environment, folder, options.requests)
        print(f"({time.monotonic() - began:.0f} s)\n")
        print_table(found)


def print_table(found):
    hello = found.get("hello")
    print(f"{'path':<10} {'instructions per request':>25} {'hello ÷ path':>13}")
    for name, instructions in found.items():
        ratio = f"{hello / instructions:.2f}" if hello else "-"
        print(f"{name:<10} {instructions:>25,.0f} {ratio:>13}")
    if hello and "bare" in found:
        print(f"\nThe server's own work is {found['bare']:,.0f} instructions per request: no path can do better than")
        print(f"{hello / found['bare']:.2f}× hello under it.")


if __name__ == "__main__":
    main()
