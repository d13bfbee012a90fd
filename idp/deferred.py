"""Work that a request queues in its transaction and that runs after the commit, in a
background thread of the process: the page answers first, and its time does not depend on
what the work finds (docs/security.md, « Lost credentials »).

    defer(decide_password_reset, identifier, ip)   # in the request, before its commit

Each job runs in an application context and commits its own transaction; a rollback of the
request drops its jobs. A job that fails is logged (its name and the exception's class, never
its arguments) and dropped: the jobs queued here are requests a person makes again when no
email comes, not messages to keep (those are the outbox's).
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db

log = logging.getLogger(__name__)

_QUEUED = "idp.deferred.queued"


def defer(job, *args):
    """Run `job(*args)` once the caller's transaction has committed, in the background."""
    db.session.info.setdefault(_QUEUED, []).append((job, args))


def wait_for_jobs(app=None, timeout=None):
    """Wait until the jobs of earlier commits (of `app`, default the current one) have run."""
    (app or current_app).extensions["idp.deferred"].wait(timeout)


class Jobs:
    """One background thread per process, created at the first use (after gunicorn forks)."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._executor = None
        self._futures = set()

    def submit(self, job, args):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idp-jobs")
            future = self._executor.submit(self._run, job, args)
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future):
        with self._lock:
            self._futures.discard(future)

    def _run(self, job, args):
        with self.app.app_context():
            try:
                job(*args)
                db.session.commit()
            except Exception as error:
                db.session.rollback()
                log.error("deferred job %s failed: %s", job.__name__, type(error).__name__)

    def wait(self, timeout=None):
        with self._lock:
            pending = list(self._futures)
        wait(pending, timeout)


def _after_commit(session):
    queued = session.info.pop(_QUEUED, None)
    if queued:
        jobs = current_app.extensions["idp.deferred"]
        for job, args in queued:
            jobs.submit(job, args)


def _after_transaction_end(session, transaction):
    if transaction.parent is None:
        session.info.pop(_QUEUED, None)


def init_app(app):
    app.extensions["idp.deferred"] = Jobs(app)
    for name, listener in (("after_commit", _after_commit), ("after_transaction_end", _after_transaction_end)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
