"""Delivery of back-channel logout notices: claim a due notice, POST its logout token to the
relying party, record the outcome.

Safe from several nodes at once: the notices are a leased queue (idp.leased_queue), like
the mail outbox, so a notice is delivered once; a sender that dies mid-request leaves a
lease that expires, and the notice is retried.

The request: `logout_token=…` form-encoded, https only (plain http to a loopback address
with LOGOUT_ALLOW_LOOPBACK_HTTP), LOGOUT_TIMEOUT seconds, redirects not followed, at most
1 KiB of the answer read; 200 or 204 is success. A fresh token is signed at each attempt
(its `exp` is two minutes away). Logs name the notice by id and the relying party by
client_id, never the token.
"""

import http.client
import ipaddress
import logging
import secrets
import ssl
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import current_app
from joserfc import jwt
from sqlalchemy import update

from .. import clock
from ..audit import audit
from ..clock import timestamp
from ..extensions import db
from ..leased_queue import LeasedQueue, run_worker, sender_id
from ..models import Client, LogoutNotice, NoticeStatus, SamlServiceProvider
from ..oidc.keys import key_store
from ..relying_parties.subjects import subject_for
from ..saml.logout import NotDelivered, soap_logout

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_LIFETIME = 120
# Delays before the 2nd, 3rd… attempts; then every RETRY_EVERY until LOGOUT_RETRY_HOURS.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))
RETRY_EVERY = timedelta(hours=1)
LEASE = timedelta(minutes=2)
NOTICES = LeasedQueue(
    LogoutNotice,
    NoticeStatus.PENDING,
    (NoticeStatus.DELIVERED, NoticeStatus.FAILED),
    (
        LogoutNotice.id,
        LogoutNotice.client_pk,
        LogoutNotice.subject,
        LogoutNotice.sid,
        LogoutNotice.reason,
        LogoutNotice.attempts,
        LogoutNotice.created_at,
        LogoutNotice.saml_sp_pk,
        LogoutNotice.name_id_format,
    ),
    LEASE,
    "LOGOUT_KEEP_DAYS",
)
ANSWER_READ = 1024


class Refused(Exception):
    """The relying party could not be reached, or did not answer 200 or 204."""


def backoff(attempts):
    return BACKOFF[attempts - 1] if attempts <= len(BACKOFF) else RETRY_EVERY


def logout_token(client, subject, sid):
    """The signed logout token for `client` (Back-Channel Logout 1.0 §2.4)."""
    issued = timestamp()
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client.client_id,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "events": {EVENT: {}},
        "sub": subject_for(client, subject),
    }
    if sid:
        claims["sid"] = sid
    key = key_store().signing_key()
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, claims, key.key)


def flush(limit=None, now=None, stop=None):
    """Deliver what is due (at most `limit` notices), purge old traces, and count:
    {"delivered": …, "failed": attempts that failed now, "waiting": notices still due}."""
    counts = _deliver_due(limit=limit, now=now, stop=stop)
    NOTICES.purge(now)
    counts["waiting"] = NOTICES.waiting()
    db.session.commit()
    return counts


def deliver(ids, now=None):
    """Deliver the notices `ids` if they are due and nobody else is delivering them."""
    return _deliver_due(ids=ids, now=now)


def worker(stop, interval=15, batch=50):
    """Flush until the event `stop` is set."""
    run_worker("logout notices", flush, stop, interval, batch)


def retry(ids=None):
    """Make given-up notices (or those of `ids`) due again now; returns how many."""
    query = update(LogoutNotice).where(LogoutNotice.status == NoticeStatus.FAILED)
    if ids:
        query = query.where(LogoutNotice.id.in_(ids))
    moment = clock.now()
    # A notice given up counts its 24 hours afresh from now.
    changed = db.session.execute(
        query.values(status=NoticeStatus.PENDING, next_attempt_at=moment, created_at=moment, attempts=0),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.commit()
    return changed


def _deliver_due(ids=None, limit=None, now=None, stop=None):
    counts = {"delivered": 0, "failed": 0}
    sender = sender_id()
    while limit is None or counts["delivered"] + counts["failed"] < limit:
        if stop is not None and stop.is_set():
            break
        claimed = NOTICES.claim(sender, now or clock.now(), ids)
        if claimed is None:
            break
        client = _Party.of(claimed)
        try:
            client.send(claimed)
        except (Refused, OSError, http.client.HTTPException) as error:
            _record_failure(claimed, client, error, now or clock.now())
            counts["failed"] += 1
        except Exception as error:  # whatever one notice raises, the others go on
            log.error("logout notice %s (%s): unexpected %s", claimed.id, client.client_id, type(error).__name__)
            _record_failure(claimed, client, error, now or clock.now())
            counts["failed"] += 1
        else:
            _record_delivered(claimed, client, now or clock.now())
            counts["delivered"] += 1
    return counts


class _Party:
    """The relying party a notice is for, an OpenID Connect client or a SAML service provider,
    as delivery, its logs and its audit name it."""

    def __init__(self, client=None, sp=None):
        self.client, self.sp = client, sp
        self.client_id = client.client_id if client is not None else sp.entity_id

    @classmethod
    def of(cls, claimed):
        if claimed.saml_sp_pk is not None:
            return cls(sp=db.session.get(SamlServiceProvider, claimed.saml_sp_pk))
        return cls(client=db.session.get(Client, claimed.client_pk))

    @property
    def audited(self):
        """What `audit` records: a client as its client, a service provider as a detail."""
        return {"client": self.client} if self.client is not None else {"sp": self.sp.entity_id}

    def send(self, claimed):
        if self.client is not None:
            _post(self.client.backchannel_logout_uri, logout_token(self.client, claimed.subject, claimed.sid))
        else:
            # The SAML door builds and posts the LogoutRequest.
            try:
                soap_logout(self.sp, claimed.subject, claimed.name_id_format, claimed.sid, _connection)
            except NotDelivered as refused:
                raise Refused(str(refused)) from refused


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _connection(uri):
    """An HTTP connection to `uri` by the rules of every notice (https, or http to loopback
    when allowed), and the path to request."""
    parts = urlsplit(uri)
    timeout = current_app.config["LOGOUT_TIMEOUT"]
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context())
    elif parts.scheme == "http" and current_app.config["LOGOUT_ALLOW_LOOPBACK_HTTP"] and _is_loopback(parts.hostname):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    else:
        raise Refused("https is required")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return connection, path


def _post(uri, token):
    """POST the logout token to `uri`; raises Refused unless the answer is 200 or 204."""
    if not uri:
        raise Refused("no back-channel logout URI registered any more")
    connection, path = _connection(uri)
    try:
        connection.request(
            "POST",
            path,
            body=urlencode({"logout_token": token}),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"},
        )
        answer = connection.getresponse()
        answer.read(ANSWER_READ)  # the body means nothing; a bounded read only
        if answer.status not in (200, 204):
            raise Refused(f"HTTP {answer.status}")
    finally:
        connection.close()


def _record_delivered(claimed, client, now):
    NOTICES.finish(
        claimed.id,
        {
            "status": NoticeStatus.DELIVERED,
            "attempts": LogoutNotice.attempts + 1,
            "last_attempt_at": now,
            "delivered_at": now,
            "last_error": None,
        },
    )
    audit("logout_notice_delivered", **client.audited, notice=claimed.id, reason=claimed.reason, attempts=claimed.attempts + 1)
    db.session.commit()
    log.info("logout notice %s (%s) delivered", claimed.id, client.client_id)


def _record_failure(claimed, client, error, now):
    attempts = claimed.attempts + 1
    give_up = now - claimed.created_at >= timedelta(hours=current_app.config["LOGOUT_RETRY_HOURS"])
    reason = _describe(error)
    values = {"attempts": attempts, "last_attempt_at": now, "last_error": reason}
    if give_up:
        values["status"] = NoticeStatus.FAILED
    else:
        values["next_attempt_at"] = now + backoff(attempts)
    NOTICES.finish(claimed.id, values, only_pending=True)
    if give_up:
        audit("logout_notice_given_up", **client.audited, notice=claimed.id, reason=claimed.reason, attempts=attempts, error=reason)
        log.warning("logout notice %s (%s) given up after %s attempt(s): %s", claimed.id, client.client_id, attempts, reason)
    else:
        log.warning(
            "logout notice %s (%s) attempt %s failed: %s; next attempt at %s",
            claimed.id,
            client.client_id,
            attempts,
            reason,
            values["next_attempt_at"].isoformat(timespec="seconds"),
        )
    db.session.commit()


def _describe(error):
    text = str(error) if isinstance(error, Refused) else ""
    return (type(error).__name__ + (f": {text}" if text else ""))[:200]
