"""Work that runs in a background thread of the process, so that no page waits for it:
the emails of a committed transaction (`idp.mail`), and what a request queues in its
transaction for after its commit, whose time must not show in the answer (docs/security.md,
« No account enumeration »).

    defer(answer_password_reset, identifier, ip)   # in the request: after its commit
    in_background(deliver, ids)                     # now

Each job runs in an application context and commits its own transaction; a rollback of the
request drops the jobs it deferred. A request's jobs start once its page is rendered (at the
request's teardown), so that none of their work runs beside the view. A job that fails is logged (its name and the exception's
class, never its arguments) and dropped: these jobs are requests a person makes again when
no email comes, or sends that the outbox retries; nothing is kept only here.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from flask import current_app, g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db

log = logging.getLogger(__name__)

_QUEUED = "idp.deferred.queued"
_AFTER_RESPONSE = "idp_deferred_after_response"


def defer(job, *args):
    """Run `job(*args)` once the caller's transaction has committed, in the background."""
    db.session.info.setdefault(_QUEUED, []).append((job, args))


# Logout notices wait for relying parties (up to LOGOUT_TIMEOUT each): they have threads of
# their own, so that a dead relying party never holds up an email, nor more than one notice.
POOLS = {"idp.deferred": 2, "idp.deferred.logout": 4}


def in_background(job, *args, pool="idp.deferred"):
    """Run `job(*args)` now, in the background (`pool`: one of POOLS)."""
    current_app.extensions[pool].submit(job, args)


def wait_for_jobs(app=None, timeout=None):
    """Wait until the background jobs (of `app`, default the current one) have run, those
    they started included."""
    pools = [(app or current_app).extensions[pool] for pool in POOLS]
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for jobs in pools:
            jobs.wait(None if deadline is None else max(deadline - time.monotonic(), 0))
        # A job of one pool may have started one in another, already waited for.
        if not any(jobs.busy() for jobs in pools) or (deadline is not None and time.monotonic() >= deadline):
            return


class Jobs:
    """Background threads of a process, created at the first use (after gunicorn forks)."""

    def __init__(self, app, workers=2, name="idp-background"):
        self.app = app
        self.workers = workers
        self.name = name
        self._lock = threading.Lock()
        self._executor = None
        self._futures = set()

    def submit(self, job, args):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
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

    def busy(self):
        with self._lock:
            return bool(self._futures)

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._futures)
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not pending or left == 0:
                return
            wait(pending, left)


def _after_commit(session):
    queued = session.info.pop(_QUEUED, None)
    if not queued:
        return
    if has_request_context():
        # Not before the page is rendered: a job running beside the view would slow it by
        # what the job finds, the very thing its deferral hides.
        g.setdefault(_AFTER_RESPONSE, []).extend(queued)
    else:
        _submit(queued)


def _submit_after_response(error=None):
    """At the request's teardown (the page rendered, about to be sent): its committed jobs."""
    queued = g.pop(_AFTER_RESPONSE, None)
    if queued:
        _submit(queued)


def _submit(queued):
    jobs = current_app.extensions["idp.deferred"]
    for job, args in queued:
        jobs.submit(job, args)


def _after_transaction_end(session, transaction):
    if transaction.parent is None:
        session.info.pop(_QUEUED, None)


def init_app(app):
    for pool, workers in POOLS.items():
        app.extensions[pool] = Jobs(app, workers, pool.replace(".", "-"))
    app.teardown_request(_submit_after_response)
    for name, listener in (("after_commit", _after_commit), ("after_transaction_end", _after_transaction_end)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
