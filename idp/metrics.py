"""The provider's metrics, in Prometheus' format at `/metrics` (docs/operations.md, « Metrics »).

Every fact is counted at the one place that decides it, by one of the objects below: the
login door counts logins (auth/login.py), the fast path's two writes count the tokens it
stores whatever the path (oidc/fast_path.py), the password hasher times its computations
(accounts/passwords.py). What the database knows (the outbox, the logout notices, the last
sweep and purge) is read when Prometheus scrapes, in three small queries, by
`DatabaseCollector`.

Under gunicorn each worker is a process of its own: with `PROMETHEUS_MULTIPROC_DIR` set
(before the server starts, to an empty folder), prometheus_client keeps every process's
values in files of that folder and a scrape adds them up; gunicorn's `child_exit` hook must
call `prometheus_client.multiprocess.mark_process_dead(worker.pid)`. Without it, the values
are the serving process's own.

The page answers 404 unless the request brings `Authorization: Bearer <METRICS_TOKEN>` or
comes from an address of `METRICS_ALLOW`: nothing says the page exists to anyone else.
"""

import hmac
import ipaddress
import os
import time
from datetime import datetime

from flask import Blueprint, abort, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select

from .clock import now
from .extensions import csrf, db
from .models import AuditEvent, LogoutNotice, OutboxMessage
from .models.logout import NoticeStatus
from .models.outbox import MailStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --- what the code counts ----------------------------------------------------------------

LOGINS = Counter(
    "idp_logins",
    "Answers of the families' login form, by result (success, wrong_password, throttled, provisional, refused) "
    "and, for a refusal, the account's state.",
    ["result", "reason"],
)
OVERLOAD_REFUSALS = Counter(
    "idp_overload_refusals",
    "Login pages and login form answers refused by the overload guard (« Trop de connexions en ce moment »), by where.",
    ["at"],
)
FIRST_CONNECTIONS = Counter("idp_first_connections", "First connections completed (password and address chosen).")
ACTIVATIONS = Counter("idp_activations", "Accounts activated by their emailed link.")
PASSWORD_RESET_REQUESTS = Counter(
    "idp_password_reset_requests", "Requests of « mot de passe oublié », by what the provider did.", ["outcome"]
)
PASSWORD_RESETS = Counter("idp_password_resets", "New passwords chosen from a « mot de passe oublié » link.")
TOKENS = Counter("idp_tokens_issued", "Tokens issued at the token endpoint, by grant type.", ["grant_type"])
USERINFO = Counter("idp_userinfo_requests", "Userinfo requests, by result (served, refused).", ["result"])
REQUEST_SECONDS = Histogram(
    "idp_request_duration_seconds",
    "Time from the start of a request's handling to its response, by Flask endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PASSWORD_HASH_SECONDS = Histogram(
    "idp_password_hash_duration_seconds",
    "Time of one argon2id computation (hash or verify), without the wait for the process's slot.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
)
SWEEP_ACCOUNTS = Counter("idp_sweep_accounts", "Accounts changed by `idp sweep`, by transition.", ["transition"])
PURGE_ROWS = Counter("idp_purge_rows", "Rows deleted by `idp purge`, by kind.", ["kind"])

# Endpoints that have no name (a 404 before routing).
NO_ENDPOINT = "none"


def timed(histogram, **labels):
    """A context manager that observes its block's duration in `histogram`."""
    return histogram.labels(**labels).time()


# --- what the database knows, read at scrape time ----------------------------------------


# What waits in a queue of the database: (gauge of the depth, gauge of the oldest's age, words).
QUEUES = {
    "outbox": ("idp_outbox_pending_messages", "idp_outbox_oldest_pending_age_seconds", "emails waiting in the outbox"),
    "logout_notices": (
        "idp_logout_notices_pending",
        "idp_logout_notices_oldest_pending_age_seconds",
        "back-channel logout notices waiting to be delivered",
    ),
}


class DatabaseCollector:
    """The depth and oldest waiting row of the outbox and of the logout notices, and the
    outcome of the last sweep and purge (their summary audit rows): three queries per
    scrape, each on an index."""

    def collect(self):
        moment = now()
        waiting = {
            "outbox": select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.status == MailStatus.PENDING),
            "logout_notices": select(func.count(), func.min(LogoutNotice.created_at)).where(LogoutNotice.status == NoticeStatus.PENDING),
        }
        last = select(func.max(AuditEvent.id)).where(AuditEvent.event.in_(("sweep", "purge"))).group_by(AuditEvent.event)
        with db.engine.connect() as connection:
            queues = {kind: connection.execute(query).one() for kind, query in waiting.items()}
            rows = connection.execute(select(AuditEvent.event, AuditEvent.at, AuditEvent.details).where(AuditEvent.id.in_(last))).all()
        for kind, (depth, oldest) in queues.items():
            depth_name, age_name, words = QUEUES[kind]
            yield GaugeMetricFamily(depth_name, f"Number of {words}.", value=depth)
            age = (moment - oldest).total_seconds() if oldest is not None else 0
            yield GaugeMetricFamily(age_name, f"Age of the oldest of the {words} (0: none).", value=age)

        runs = {row.event: row for row in rows}
        for event, what, label in (("sweep", "accounts", "transition"), ("purge", "rows", "kind")):
            when = GaugeMetricFamily(f"idp_last_{event}_timestamp_seconds", f"When the last `idp {event}` ran (Unix time; absent: never).")
            counts = GaugeMetricFamily(
                f"idp_last_{event}_{what}", f"{what.capitalize()} of the last `idp {event}`, by {label}.", labels=[label]
            )
            run = runs.get(event)
            if run is not None:
                when.add_metric([], _unix(run.at))
                for name, value in sorted((run.details or {}).items()):
                    if isinstance(value, int) and not isinstance(value, bool):
                        counts.add_metric([name], value)
            yield when
            yield counts


def _unix(moment):
    return (moment - _EPOCH).total_seconds()


_EPOCH = datetime(1970, 1, 1)


class _ThisProcess:
    """The default registry's metrics, when each process keeps its own."""

    def collect(self):
        return REGISTRY.collect()


def scrape():
    """The page's body: every metric, added up over the processes in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


# --- who may read them -------------------------------------------------------------------


def allowed_networks(config):
    """METRICS_ALLOW as networks; a value that is no address nor network stops the start."""
    networks = []
    for value in config["METRICS_ALLOW"]:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"IDP_METRICS_ALLOW: {value!r} is neither an IP address nor a network (CIDR)") from None
    return networks


def may_read():
    """True when the request brings the metrics token, or comes from an allowed address."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    networks = current_app.extensions["idp.metrics_allow"]
    if networks and request.remote_addr:
        address = ipaddress.ip_address(request.remote_addr)
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in networks)
    return False


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@csrf.exempt
def metrics():
    if not may_read():
        abort(404)
    response = current_app.response_class(scrape(), mimetype=None, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the duration of every request -------------------------------------------------------


def _start_clock():
    g.request_started = time.perf_counter()


# The histogram of each endpoint, looked up once: `labels()` costs four times the observation.
_by_endpoint = {}


def _observe(exception=None):
    started = g.pop("request_started", None)
    if started is None:
        return
    endpoint = request.endpoint or NO_ENDPOINT
    histogram = _by_endpoint.get(endpoint)
    if histogram is None:
        histogram = _by_endpoint[endpoint] = REQUEST_SECONDS.labels(endpoint=endpoint)
    histogram.observe(time.perf_counter() - started)


def init_app(app):
    app.extensions["idp.metrics_allow"] = allowed_networks(app.config)
    # Before every other before_request function (inputs.py's included): a refused request
    # is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.teardown_request(_observe)
    app.register_blueprint(bp)
