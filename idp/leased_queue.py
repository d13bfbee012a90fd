"""Tables of work written in a transaction and delivered after its commit, from several
nodes at once: the mail outbox (idp.mail) and the logout notices (idp.logout).

A row is `pending` until it is delivered or given up. A sender claims one due row with a
single UPDATE that takes a lease (`claimed_by`, `claimed_until`) only if no live lease
exists, choosing the row with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite runs the same
UPDATE under its write lock), and commits the claim at once; each outcome is committed as
well. So a row goes out once, and a sender that dies mid-delivery leaves a lease that
expires, after which the row is retried. The queue's rows have the columns `status`,
`next_attempt_at`, `last_attempt_at`, `claimed_by` and `claimed_until`.

After the commit of the transaction that wrote rows, `AfterCommit` hands their ids to a
background job (idp.deferred); the periodic `flush` and the `worker` loop pick up the rest.
"""

import logging
import os
import secrets
import socket
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session, aliased

from . import clock
from .deferred import in_background
from .extensions import db

log = logging.getLogger(__name__)


def sender_id():
    """Names the process (and the run) holding a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[-64:]


class LeasedQueue:
    """The claiming, waiting count and purge of the table `model`, whose rows are due while
    `pending`, and finished in the statuses `done`; `returning`: the columns a claim reads;
    `keep_days`: the setting naming how many days the trace of a finished row is kept."""

    def __init__(self, model, pending, done, returning, lease, keep_days):
        self.model = model
        self.pending = pending
        self.done = done
        self.returning = returning
        self.lease = lease
        self.keep_days = keep_days

    def _claimable(self, row, now):
        return (
            row.status == self.pending,
            row.next_attempt_at <= now,
            or_(row.claimed_until.is_(None), row.claimed_until < now),
        )

    def claim(self, sender, now, ids=None):
        """Lease the next due row to `sender`, committed; its `returning` columns, or None."""
        model = self.model
        candidate = aliased(model)
        chosen = select(candidate.id).where(*self._claimable(candidate, now))
        if ids is not None:
            chosen = chosen.where(candidate.id.in_(ids))
        chosen = chosen.order_by(candidate.next_attempt_at, candidate.id).limit(1).with_for_update(skip_locked=True)
        claimed = db.session.execute(
            update(model)
            .where(model.id == chosen.scalar_subquery(), *self._claimable(model, now))
            .values(claimed_by=sender, claimed_until=now + self.lease)
            .returning(*self.returning)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        db.session.commit()
        return claimed

    def finish(self, row_id, values, only_pending=False):
        """Record an outcome of the row `row_id` (its lease released); not committed."""
        condition = [self.model.id == row_id] + ([self.model.status == self.pending] if only_pending else [])
        db.session.execute(
            update(self.model)
            .where(*condition)
            .values(**values, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )

    def waiting(self):
        return db.session.scalar(select(func.count()).where(self.model.status == self.pending))

    def purge(self, now=None):
        """Delete the traces of rows finished more than `keep_days` days ago."""
        cutoff = (now or clock.now()) - timedelta(days=current_app.config[self.keep_days])
        model = self.model
        result = db.session.execute(delete(model).where(model.status.in_(self.done), model.last_attempt_at < cutoff))
        db.session.commit()
        return result.rowcount


def run_worker(name, flush, stop, interval, batch):
    """Call `flush(limit=batch, stop=stop)` until the event `stop` is set: again at once while
    it finds a full batch, else every `interval` seconds. `flush` returns counts whose values
    but "waiting" are rows handled."""
    log.info("%s worker started", name)
    while not stop.is_set():
        try:
            counts = flush(limit=batch, stop=stop)
            handled = sum(value for key, value in counts.items() if key != "waiting")
        except Exception:
            log.exception("%s: flush failed; next try in %s s", name, interval)
            db.session.rollback()
            handled = 0
        if handled < batch:
            stop.wait(interval)
    log.info("%s worker stopped", name)


class AfterCommit:
    """Rows a transaction queues (`add`) reach `deliver(ids)` in the background once it has
    committed, unless the setting `enabled` is off; a rollback drops them. The queue may be
    declared where rows are written, and its delivery given where it is done (`listen`)."""

    def __init__(self, key, enabled, pool="idp.deferred", one_by_one=False):
        self.key = key
        self.deliver = None
        self.enabled = enabled
        self.pool = pool
        self.one_by_one = one_by_one

    def add(self, rows_or_ids):
        if rows_or_ids:
            db.session.info.setdefault(self.key, []).extend(rows_or_ids)

    def _deliver(self, ids):
        try:
            self.deliver(ids)
        except Exception:
            log.exception("%s: delivery after commit failed; what is left waits for the flush or the worker", self.key)

    def _after_commit(self, session):
        queued = session.info.pop(self.key, None)
        if not queued or not current_app.config[self.enabled]:
            return
        ids = [item if isinstance(item, int) else (inspect(item).identity or (None,))[0] for item in queued]
        ids = [each for each in ids if each is not None]
        for batch in ([each] for each in ids) if self.one_by_one else [ids]:
            if batch:
                in_background(self._deliver, batch, pool=self.pool)

    def _after_transaction_end(self, session, transaction):
        # After a commit, `_after_commit` has taken the queue already; after a rollback or a
        # close, what was queued no longer exists.
        if transaction.parent is None:
            session.info.pop(self.key, None)

    def listen(self, deliver):
        self.deliver = deliver
        for name, listener in (("after_commit", self._after_commit), ("after_transaction_end", self._after_transaction_end)):
            if not event.contains(Session, name, listener):
                event.listen(Session, name, listener)
