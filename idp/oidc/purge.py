"""The purge: delete the codes, tokens, sessions and emailed links that can serve no one any more.

`idp purge` runs it from a cron job or a systemd timer, on any node, on several at once:
on PostgreSQL an advisory lock makes them take turns, so that no row is counted twice and
two purges never wait on each other's rows. What stays, and why:

- a code, spent or not, until MARGIN after it expired: a replayed code is recognised, and
  revokes what it produced, as long as its row exists;
- a token until MARGIN after the last of its expiries: a spent or revoked refresh token's
  row is how a reuse is recognised (and its family revoked) until the refresh would have
  expired anyway;
- a login session, ended or not, until MARGIN after its absolute end; a staff session the
  same;
- a link sent by email (activation, email change, password reset), used or not, until
  MARGIN after it expired: an expired, a used and a deleted link are refused alike, and the
  row holds the address it was sent to;
- consents: they go with their relying party or their account (ON DELETE CASCADE), never
  with age;
- an audit event for `AUDIT_RETENTION_DAYS` (365 by default; 0: for ever), counted from its
  moment, to the second: the CNIL's year of traces, then nothing more.

Set-based: each DELETE takes at most `batch` rows, in its own short transaction, and the
purge goes on until fewer remain.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, text

from ..clock import now
from ..extensions import db
from ..models import AccountLink, AuditEvent, AuthorizationCode, LoginSession, StaffSession, Token

BATCH = 10_000
# Beyond every expiry, for the clocks of the nodes to disagree.
MARGIN = timedelta(hours=1)
# pg_advisory_lock key of the purge (any constant shared by every node).
LOCK_KEY = 7_236_010_117_001


def _doomed(cutoff, audit_cutoff):
    """For each kind, the conditions (one index each) of its rows that may go."""
    kinds = {
        "codes": (AuthorizationCode, [AuthorizationCode.expires_at < cutoff]),
        "tokens": (
            Token,
            [
                Token.refresh_expires_at.is_(None) & (Token.access_expires_at < cutoff),
                (Token.refresh_expires_at < cutoff) & (Token.access_expires_at < cutoff),
            ],
        ),
        "sessions": (LoginSession, [LoginSession.expires_at < cutoff]),
        "staff_sessions": (StaffSession, [StaffSession.expires_at < cutoff]),
        "links": (AccountLink, [AccountLink.expires_at < cutoff]),
    }
    # Kept for ever when AUDIT_RETENTION_DAYS is 0: no condition, nothing deleted.
    kinds["audit_events"] = (AuditEvent, [AuditEvent.at < audit_cutoff] if audit_cutoff is not None else [])
    return kinds


def audit_cutoff(moment=None):
    """The moment before which audit events go, or None when they are kept for ever."""
    days = current_app.config["AUDIT_RETENTION_DAYS"]
    return (moment or now()) - timedelta(days=days) if days > 0 else None


def _delete_in_batches(connection, model, condition, batch):
    # The ids first: `DELETE … WHERE id IN (SELECT … LIMIT n)` makes PostgreSQL scan the
    # whole table at every batch, a list of ids goes through the primary key.
    doomed = select(model.id).where(condition).limit(batch)
    total = 0
    while True:
        ids = connection.scalars(doomed).all()
        if ids:
            total += connection.execute(delete(model).where(model.id.in_(ids))).rowcount
        connection.commit()
        if len(ids) < batch:
            return total


def purge_expired(batch=BATCH):
    """Delete what has expired (see above); return the number of rows deleted per kind."""
    moment = now()
    cutoff = moment - MARGIN
    counts = {}
    with db.engine.connect() as connection:
        postgresql = connection.dialect.name == "postgresql"
        if postgresql:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            connection.commit()
        try:
            for kind, (model, conditions) in _doomed(cutoff, audit_cutoff(moment)).items():
                counts[kind] = sum(_delete_in_batches(connection, model, condition, batch) for condition in conditions)
        finally:
            if postgresql:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                connection.commit()
    return counts
