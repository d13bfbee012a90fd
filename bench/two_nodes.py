"""Two nodes behind a real nginx, on loopback: logins go on when one node dies, and a family
logged in on one node goes on on the other.

    .venv/bin/python bench/two_nodes.py                          # free ports, PostgreSQL idp_two_nodes
    .venv/bin/python bench/two_nodes.py --nginx-port 18000 --node-ports 18001,18002 --rate 12 --duration 30

What it runs, all as the current user and all stopped at the end:

- two gunicorn nodes with deploy/gunicorn.conf.py (one worker each on this small machine:
  `--workers`), sharing one PostgreSQL database (IDP_BENCH_DATABASE, default idp_two_nodes,
  made afresh and dropped at the end) and Redis (`--redis-url`), the same keys folder and secrets,
  IDP_PROXY_COUNT=1 and IDP_PROXY_ADDRESSES=127.0.0.1;
- nginx from the distribution with deploy/nginx/idp.conf itself, its addresses, ports,
  certificate and paths replaced by the loopback's (a self-signed certificate made with openssl
  in a temporary folder, nginx run with that folder as its prefix: not the system's service).

Then:

1. a family logs in on node 1 directly (its own address, no nginx);
2. new browsers arrive through nginx (https) at `--rate` logins per second for `--duration`
   seconds (bench/open_loop.py, the bench's load driver); half-way through, node 1 is killed
   (SIGKILL to its master and workers: a crash, not a clean stop);
3. the family's session cookie, made on node 1, is sent to node 2 directly: its account page
   and a single sign-on to the ENT.

It prints the logins served and failed before and after the kill (a login counts on the side
of the moment it began), the failures in the second that followed the kill (the requests in
flight on the dead node), and what the family saw.
"""

import argparse
import os
import secrets
import shlex
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

os.environ.setdefault("IDP_BENCH_DATABASE", "idp_two_nodes")

from idp.config import load

import database
from open_loop import FAILED, REFUSED, SERVED, TIMED_OUT, drive, percentile
from processes import process_tree
from scenarios import CSRF, FORM, LOGIN_SCOPE, RelyingParty
from server import REPOSITORY, free_port, stop_tree
from transport import Cookies, KeepAliveTransport

DEPLOY = REPOSITORY / "deploy"
NGINX = Path("/usr/sbin/nginx")


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nginx-port", type=int, default=0, help="nginx's https port (default: a free one)")
    parser.add_argument("--http-port", type=int, default=0, help="nginx's plain http port, which redirects (default: a free one)")
    parser.add_argument("--node-ports", default="", help="the two nodes' ports, comma-separated (default: free ones)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per node (default 1: two nodes on a small machine)")
    parser.add_argument("--rate", type=float, default=12.0, help="new browsers per second through nginx (default 12)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load; node 1 dies half-way (default 30)")
    parser.add_argument("--processes", type=int, default=16, help="load generator processes (default 16)")
    parser.add_argument("--accounts", type=int, default=200, help="parent accounts to seed (default 200)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1", help="shared throttling store ('' for each node's memory)")
    parser.add_argument("--keep-database", action="store_true", help="leave the database in place at the end")
    return parser.parse_args()


def certificate(folder):
    """A self-signed certificate for 127.0.0.1 and localhost, for this run only."""
    key, cert = folder / "tls.key", folder / "tls.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def replace(text, old, new):
    """Replace a line of deploy/nginx/idp.conf that must be there (a changed file fails here, loudly)."""
    if old not in text:
        raise SystemExit(f"deploy/nginx/idp.conf no longer has {old!r}: update bench/two_nodes.py")
    return text.replace(old, new)


def nginx_configuration(prefix, key, cert, https_port, http_port, node_ports):
    """deploy/nginx/idp.conf with the loopback's addresses and this run's paths, in a main file."""
    site = (DEPLOY / "nginx" / "idp.conf").read_text()
    site = replace(site, "server 10.0.0.11:8000", f"server 127.0.0.1:{node_ports[0]}")
    site = replace(site, "server 10.0.0.12:8000", f"server 127.0.0.1:{node_ports[1]}")
    site = replace(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace(site, "/etc/ssl/teleservices.pem", str(cert))
    site = replace(site, "/etc/ssl/private/teleservices.key", str(key))
    site = replace(site, "/var/cache/nginx/idp", str(prefix / "cache"))
    site = site.replace("/var/log/nginx/teleservices.access.log", str(prefix / "access.log"))
    (prefix / "idp.conf").write_text(site)
    temporary = " ".join(f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = f"""
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    {temporary}
    access_log off;
    include {prefix / "idp.conf"};
}}
"""
    (prefix / "nginx.conf").write_text(main)
    return prefix / "nginx.conf"


def wait_for(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout} s")


def answers(port, tls=None, path="/.well-known/openid-configuration"):
    transport = KeepAliveTransport("127.0.0.1", port, tls=tls, timeout=5)
    try:
        return transport.send("GET", path).status == 200
    finally:
        transport.reconnect()


@contextmanager
def running(command, log, environment=None, cwd=None):
    """A process for the length of the block; its whole tree stopped at the end."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, env=os.environ | (environment or {}), cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop_tree(process)  # a node the run killed is already gone: only its children are left


def log_in_directly(seed, port):
    """A family logs in on one node, as a browser would there: returns its cookie jar."""
    transport, browser, rp = KeepAliveTransport("127.0.0.1", port), Cookies(), RelyingParty(seed)
    page = browser.send(transport, "GET", "/connexion")
    csrf = CSRF.search(page.body).group(1).decode()
    form = {"identifier": seed.identifiers[0], "password": seed.password, "csrf_token": csrf}
    answer = browser.send(transport, "POST", "/connexion", urlencode(form), FORM)
    if answer.status != 303 or "idp_session" not in browser.values:
        raise RuntimeError(f"the family's login on node 1 failed: HTTP {answer.status}")
    transport.reconnect()
    return browser, rp


def continue_elsewhere(seed, browser, rp, port):
    """The same cookies on another node: the account page, then a single sign-on to the ENT."""
    transport = KeepAliveTransport("127.0.0.1", port)
    account = browser.send(transport, "GET", "/compte/")
    seen = {"account page": account.status, "identifier shown": seed.identifiers[0].encode() in account.body}
    query = {"response_type": "code", "client_id": seed.client_id, "redirect_uri": seed.redirect_uri, "scope": LOGIN_SCOPE}
    query |= {"state": "family", "nonce": secrets.token_hex(4)}
    authorization = browser.send(transport, "GET", "/authorize?" + urlencode(query))
    code = parse_qs(urlsplit(authorization.location or "").query).get("code", [None])[0]
    seen["single sign-on"] = authorization.status
    seen["code"] = code is not None
    if code:
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": seed.redirect_uri}
        seen["tokens"] = "id_token" in rp.token(transport, grant)
    transport.reconnect()
    return seen


def tally(outcomes):
    counts = Counter(outcome.result for outcome in outcomes)
    served = [outcome.seconds for outcome in outcomes if outcome.result == SERVED]
    return {
        "arrivals": len(outcomes),
        SERVED: counts[SERVED],
        FAILED: counts[FAILED],
        REFUSED: counts[REFUSED],
        TIMED_OUT: counts[TIMED_OUT],
        "served p99 ms": round(percentile(served, 0.99) * 1000, 1),
    }


def main():
    options = arguments()
    if not NGINX.exists():
        sys.exit("nginx is missing: apt-get install -y nginx")
    if not database.postgres_reachable():
        sys.exit("two nodes share PostgreSQL: none answers at 127.0.0.1:5432")
    node_ports = [int(port) for port in options.node_ports.split(",")] if options.node_ports else [free_port(), free_port()]
    https_port, http_port = options.nginx_port or free_port(), options.http_port or free_port()
    with ExitStack() as stack:
        prefix = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idp-two-nodes-")))
        prefix.chmod(0o755)  # nginx's workers run as nobody when started by root
        private = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idp-two-nodes-keys-")))
        url = database.fresh_postgres_database()
        if not options.keep_database:
            stack.callback(drop_database)
        overrides = {
            "ISSUER": f"https://127.0.0.1:{https_port}",
            "DATABASE_URL": url,
            "REDIS_URL": options.redis_url,
            "KEYS_DIR": str(private / "keys"),
            "SECRET_KEY": secrets.token_hex(32),
            "HASH_KEY": secrets.token_hex(32),
            "PROXY_COUNT": 1,
            "PROXY_ADDRESSES": ["127.0.0.1"],
        }
        environment = {f"IDP_{key}": ",".join(value) if isinstance(value, list) else str(value) for key, value in overrides.items()}
        database.migrate(environment)
        seed = database.seed(load(overrides), options.accounts)
        print(f"database {database.DATABASE_NAME}: {len(seed.identifiers)} accounts; throttling: {options.redis_url or 'memory'}")

        key, cert = certificate(prefix)
        nodes = []
        for number, port in enumerate(node_ports, start=1):
            command = [sys.executable, "-m", "gunicorn", "--config", str(DEPLOY / "gunicorn.conf.py")]
            command += ["--bind", f"127.0.0.1:{port}", "--workers", str(options.workers)]
            node = stack.enter_context(running(command, prefix / f"node{number}.log", environment, cwd=REPOSITORY))
            nodes.append(node)
            print(f"node {number}: {shlex.join(['gunicorn', *command[3:]])} (pid {node.pid})")
        for number, port in enumerate(node_ports, start=1):
            wait_for(lambda port=port: answers(port), f"node {number}")
        configuration = nginx_configuration(prefix, key, cert, https_port, http_port, node_ports)
        nginx = [str(NGINX), "-p", str(prefix), "-c", str(configuration), "-g", "daemon off;"]
        subprocess.run([*nginx[:-2], "-t", "-q"], check=True)
        stack.enter_context(running(nginx, prefix / "nginx.log"))
        tls = ssl.create_default_context(cafile=str(cert))
        wait_for(lambda: answers(https_port, tls), "nginx")
        print(f"nginx {nginx_version()}: https://127.0.0.1:{https_port} (deploy/nginx/idp.conf, prefix {prefix})")
        checks = proxy_checks(https_port, http_port, tls)

        browser, rp = log_in_directly(seed, node_ports[0])
        print(f"a family logged in on node 1 (127.0.0.1:{node_ports[0]}) as {seed.identifiers[0]}")

        killed = {}

        def kill_node_one(start):
            time.sleep(max(0.0, start + options.duration / 2 - time.time()))
            killed["at"] = time.time()
            for pid in reversed(process_tree(nodes[0].pid)):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            print(f"node 1 killed (SIGKILL) {killed['at'] - start:.1f} s into the run", flush=True)

        print(
            f"{options.rate:g} new browsers/s through nginx for {options.duration:g} s ({options.processes} client processes)", flush=True
        )
        outcomes = drive(seed, ("127.0.0.1", https_port), options.rate, options.duration, options.processes, tls=tls, during=kill_node_one)
        at = killed["at"]
        before = tally([outcome for outcome in outcomes if outcome.due + outcome.lag < at])
        after = tally([outcome for outcome in outcomes if outcome.due + outcome.lag >= at])
        settled = tally([outcome for outcome in outcomes if outcome.due + outcome.lag >= at + 1])
        in_flight = [outcome for outcome in outcomes if outcome.result != SERVED and outcome.due + outcome.lag < at <= outcome.finished]
        failures = [(round(outcome.due + outcome.lag - at, 2), outcome.detail[:90]) for outcome in outcomes if outcome.result != SERVED]
        family = continue_elsewhere(seed, browser, rp, node_ports[1])
        upstreams = Counter(line.split()[-2] for line in (prefix / "access.log").read_text().splitlines() if "/authorize" in line)
        report(options, before, after, settled, in_flight, failures, family, checks, upstreams)


def proxy_checks(https_port, http_port, tls):
    """What nginx does with discovery, the JWKS, oversized bodies and plain http."""
    transport = KeepAliveTransport("127.0.0.1", https_port, tls=tls)
    first = transport.send("GET", "/jwks.json")
    second = transport.send("GET", "/jwks.json")
    oversized = transport.send("POST", "/token", "x" * (65 * 1024), FORM)
    transport.reconnect()
    plain = KeepAliveTransport("127.0.0.1", http_port).send("GET", "/connexion")
    return {
        "JWKS twice": f"{first.status}, {second.status}",
        "POST /token of 65 KiB": oversized.status,
        "plain http": f"{plain.status} to {plain.location}",
    }


def nginx_version():
    return subprocess.run([str(NGINX), "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]


def drop_database():
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"postgresql://{database.POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.DATABASE_NAME)))


def report(options, before, after, settled, in_flight, failures, family, checks, upstreams):
    print(f"\n{shlex.join(sys.orig_argv)}")
    print(f"nginx: {checks}; logins' forms by node: {dict(upstreams)}")
    columns = ["arrivals", SERVED, FAILED, REFUSED, TIMED_OUT, "served p99 ms"]
    rows = [("before the kill", before), ("after the kill", after), ("from 1 s after it", settled)]
    widths = [max(len(label) for label, _ in rows)] + [max(len(column), 6) for column in columns]
    print("  ".join(text.ljust(width) for text, width in zip(["", *columns], widths, strict=True)))
    for label, figures in rows:
        cells = [label] + [str(figures[column]) for column in columns]
        print("  ".join(text.ljust(width) for text, width in zip(cells, widths, strict=True)))
    print(f"logins in flight at the kill that failed: {len(in_flight)}" + (f" ({in_flight[0].detail})" if in_flight else ""))
    for began, detail in failures:
        print(f"  a login begun {began:+.2f} s from the kill: {detail}")
    print(f"the family logged in on node 1, on node 2 after the kill: {family}")


if __name__ == "__main__":
    main()
