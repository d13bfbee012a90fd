"""Delivery of back-channel logout notices: claim a due notice, POST its logout token to the
relying party, record the outcome.

Safe from several nodes at once, as the mail outbox: a sender claims one notice with a
single UPDATE that takes a lease only if no live lease exists (`FOR UPDATE SKIP LOCKED` on
PostgreSQL), and each outcome is committed at once, so a notice is delivered once. A
sender that dies mid-request leaves a lease that expires, and the notice is retried.

The request: `logout_token=…` form-encoded, https only (plain http to a loopback address
with LOGOUT_ALLOW_LOOPBACK_HTTP), LOGOUT_TIMEOUT seconds, redirects not followed, at most
1 KiB of the answer read; 200 or 204 is success. A fresh token is signed at each attempt
(its `exp` is two minutes away). Logs name the notice by id and the relying party by
client_id, never the token.
"""

import http.client
import ipaddress
import logging
import os
import secrets
import socket
import ssl
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import current_app
from joserfc import jwt
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import aliased

from .. import clock
from ..audit import audit
from ..clock import timestamp
from ..extensions import db
from ..models import Client, LogoutNotice, NoticeStatus
from ..oidc.keys import key_store
from ..relying_parties.subjects import subject_for

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_LIFETIME = 120
# Delays before the 2nd, 3rd… attempts; then every RETRY_EVERY until LOGOUT_RETRY_HOURS.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))
RETRY_EVERY = timedelta(hours=1)
LEASE = timedelta(minutes=2)
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
    """Deliver what is due (at most `limit` notices), purge old traces, and count."""
    counts = _deliver_due(limit=limit, now=now, stop=stop)
    purge(now)
    counts["waiting"] = db.session.scalar(select(func.count()).where(LogoutNotice.status == NoticeStatus.PENDING))
    db.session.commit()
    return counts


def deliver(ids, now=None):
    """Deliver the notices `ids` if they are due and nobody else is delivering them."""
    return _deliver_due(ids=ids, now=now)


def worker(stop, interval=15, batch=50):
    """Flush until the event `stop` is set."""
    log.info("logout notice worker started")
    while not stop.is_set():
        try:
            counts = flush(limit=batch, stop=stop)
        except Exception:
            log.exception("logout: flush failed; next try in %s s", interval)
            db.session.rollback()
            counts = {"delivered": 0, "failed": 0}
        if counts["delivered"] + counts["failed"] < batch:
            stop.wait(interval)
    log.info("logout notice worker stopped")


def purge(now=None):
    """Delete the traces of notices delivered or given up more than LOGOUT_KEEP_DAYS ago."""
    cutoff = (now or clock.now()) - timedelta(days=current_app.config["LOGOUT_KEEP_DAYS"])
    result = db.session.execute(
        delete(LogoutNotice).where(
            LogoutNotice.status.in_([NoticeStatus.DELIVERED, NoticeStatus.FAILED]), LogoutNotice.last_attempt_at < cutoff
        )
    )
    db.session.commit()
    return result.rowcount


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
    sender_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[-64:]
    while limit is None or counts["delivered"] + counts["failed"] < limit:
        if stop is not None and stop.is_set():
            break
        claimed = _claim(sender_id, now or clock.now(), ids)
        if claimed is None:
            break
        client = db.session.get(Client, claimed.client_pk)
        try:
            _post(client.backchannel_logout_uri, logout_token(client, claimed.subject, claimed.sid))
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


def _claimable(notice, now):
    return (
        notice.status == NoticeStatus.PENDING,
        notice.next_attempt_at <= now,
        or_(notice.claimed_until.is_(None), notice.claimed_until < now),
    )


def _claim(sender_id, now, ids=None):
    """Lease the next due notice to `sender_id`, committed; None when there is none."""
    candidate = aliased(LogoutNotice)
    chosen = select(candidate.id).where(*_claimable(candidate, now))
    if ids is not None:
        chosen = chosen.where(candidate.id.in_(ids))
    chosen = chosen.order_by(candidate.next_attempt_at, candidate.id).limit(1).with_for_update(skip_locked=True)
    claimed = db.session.execute(
        update(LogoutNotice)
        .where(LogoutNotice.id == chosen.scalar_subquery(), *_claimable(LogoutNotice, now))
        .values(claimed_by=sender_id, claimed_until=now + LEASE)
        .returning(
            LogoutNotice.id,
            LogoutNotice.client_pk,
            LogoutNotice.subject,
            LogoutNotice.sid,
            LogoutNotice.reason,
            LogoutNotice.attempts,
            LogoutNotice.created_at,
        )
        .execution_options(synchronize_session=False)
    ).one_or_none()
    db.session.commit()
    return claimed


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _post(uri, token):
    """POST the logout token to `uri`; raises Refused unless the answer is 200 or 204."""
    if not uri:
        raise Refused("no back-channel logout URI registered any more")
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
    db.session.execute(
        update(LogoutNotice)
        .where(LogoutNotice.id == claimed.id)
        .values(
            status=NoticeStatus.DELIVERED,
            attempts=LogoutNotice.attempts + 1,
            last_attempt_at=now,
            delivered_at=now,
            last_error=None,
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    audit("logout_notice_delivered", client=client, notice=claimed.id, reason=claimed.reason, attempts=claimed.attempts + 1)
    db.session.commit()
    log.info("logout notice %s (%s) delivered", claimed.id, client.client_id)


def _record_failure(claimed, client, error, now):
    attempts = claimed.attempts + 1
    give_up = now - claimed.created_at >= timedelta(hours=current_app.config["LOGOUT_RETRY_HOURS"])
    reason = _describe(error)
    values = {"attempts": attempts, "last_attempt_at": now, "last_error": reason, "claimed_by": None, "claimed_until": None}
    if give_up:
        values["status"] = NoticeStatus.FAILED
    else:
        values["next_attempt_at"] = now + backoff(attempts)
    db.session.execute(
        update(LogoutNotice)
        .where(LogoutNotice.id == claimed.id, LogoutNotice.status == NoticeStatus.PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if give_up:
        audit("logout_notice_given_up", client=client, notice=claimed.id, reason=claimed.reason, attempts=attempts, error=reason)
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
