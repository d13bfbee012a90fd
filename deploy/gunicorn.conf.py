"""gunicorn's settings for a node of the identity provider (docs/operations.md).

    gunicorn --config /etc/idp/gunicorn.conf.py          # systemd: deploy/systemd/idp-web@.service

The unit gives the address (`--bind`); WEB_CONCURRENCY, if set, the number of workers.
Options given on the command line win over this file.
"""

import os
import sys

# The address nginx reaches the node at (deploy/nginx/idp.conf, upstream idp): a private one,
# never the public interface, since the node trusts X-Forwarded-* from its peer (IDP_PROXY_ADDRESSES).
bind = ["127.0.0.1:8000"]
wsgi_app = "idp:create_app()"

# One worker per core, threads to overlap the waits for PostgreSQL and Redis. The password
# checks run on each worker's own argon2 thread (IDP_ARGON2_CONCURRENCY), so that a login
# in progress holds a request thread without holding the CPU of the others: the overload
# guard (IDP_OVERLOAD_LOGINS=2) admits up to twice that many form answers, and 8 threads
# leave at least 4 for tokens, userinfo and pages (bench/overload.py). While the guard is at
# its bound, gthread's own worker refuses new browsers' login pages on its accepting thread,
# before they wait for one of these threads (idp/gunicorn_worker.py).
worker_class = "idp.gunicorn_worker.AdmittingThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
threads = 8
# Longer than nginx's keepalive_timeout to the nodes (60 s): nginx closes idle connections first.
keepalive = 75
timeout = 60
graceful_timeout = 30

# gunicorn's own handling of X-Forwarded-Proto is not needed: the provider reads the proxy's
# headers itself (IDP_PROXY_COUNT, IDP_PROXY_ADDRESSES).
forwarded_allow_ips = ""

# systemd starts, reloads and stops the nodes: no control socket (it would be made in the
# service's home, which the unit keeps read-only, and two nodes on one host would share it).
control_socket_disable = True

# The access log is nginx's; if it is turned on here (accesslog = "-"), the tokens of emailed
# links and hints come out masked.
logger_class = "idp.access_log.MaskingLogger"
accesslog = None
errorlog = "-"


def child_exit(server, worker):
    """Prometheus' multiprocess mode (PROMETHEUS_MULTIPROC_DIR): forget the gauges of a worker
    that exited. Without the folder, each process keeps its own values: nothing to forget."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """A thread that holds the GIL in Python code (a page being rendered) is asked to hand it
    over after 1 ms instead of 5: a short request (a refusal, a token, userinfo) waits less
    behind the worker's longer ones."""
    sys.setswitchinterval(0.001)
