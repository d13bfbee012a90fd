"""Back-channel logout notices (OpenID Connect Back-Channel Logout 1.0): written by
`idp.accounts.logouts` in the transaction that ends a session, delivered after its commit
in background threads of their own (the page never waits for a relying party), and what
fails waits for `idp logout-notices flush` (cron) or `idp logout-notices worker`
(systemd), which retry with backoff (`delivery.py`), like the mail outbox.
"""

import logging

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..deferred import in_background
from ..extensions import db
from .delivery import deliver, flush, worker

__all__ = ["deliver", "flush", "init_app", "queue", "worker"]

log = logging.getLogger(__name__)

_QUEUED = "idp.logout.queued"


def queue(ids):
    """Deliver the notices `ids` once the caller's transaction has committed."""
    if ids:
        db.session.info.setdefault(_QUEUED, []).extend(ids)


def _deliver_after_commit(notice_id):
    try:
        deliver([notice_id])
    except Exception:
        log.exception("logout: delivery after commit failed; the notice waits for `idp logout-notices flush` or the worker")


def _after_commit(session):
    queued = session.info.pop(_QUEUED, None)
    if not queued or not current_app.config["LOGOUT_SEND_AFTER_COMMIT"]:
        return
    # One job per notice: a relying party that does not answer holds up no other.
    for notice_id in queued:
        in_background(_deliver_after_commit, notice_id, pool="idp.deferred.logout")


def _after_transaction_end(session, transaction):
    if transaction.parent is None:
        session.info.pop(_QUEUED, None)


def init_app(app):
    for name, listener in (("after_commit", _after_commit), ("after_transaction_end", _after_transaction_end)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
