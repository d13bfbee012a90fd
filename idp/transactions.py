"""The request's transaction: its view commits what it means to keep, and nothing is left
behind unsaid.

Views commit by hand, at the moment the domain says: a refused attempt commits its counted
failure and its audit row before it answers, a replayed code's revocation is committed on
its own after the request's work is dropped, the token endpoint on PostgreSQL writes
outside any transaction (docs/architecture.md, « Principles »). A view that returns
normally must therefore leave no write uncommitted: the session would roll it back when the
request ends, and an audit row or a throttle count would be lost without a word.

This module makes that loud. It notes every write of the session (a flush, a Core
INSERT, UPDATE or DELETE through it, or a write the fast path makes on the session's
connection) until the next commit or rollback; a request that ends without an exception
while writes are pending is logged as an error, and raises under TESTING, so that the
test of that path fails. A view that means to drop its writes says so: it raises (an
HTTP error it aborts with, like an unexpected error, rolls the session back: idp.errors),
or it calls `db.session.rollback()`.

Why not one commit after every view, as some applications do: here a view's commit points
are part of what it means (what a refusal keeps, what a replay revokes on its own), and a
commit after the view would also keep the half-done writes of a path that answers a
refusal without rolling back; a forgotten rollback would then keep bad data silently,
where a forgotten commit is caught here.
"""

import logging

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db

log = logging.getLogger("idp")

_PENDING = "idp.pending_writes"


class UncommittedWrites(RuntimeError):
    """A request returned a response while its session still held writes."""


def note_write(session):
    """Record that `session` wrote something its transaction has not committed yet."""
    session.info[_PENDING] = True


def _forget(session, *args):
    session.info.pop(_PENDING, None)


def pending_writes(session):
    """True when `session` has writes that neither a commit nor a rollback has settled:
    flushed, executed through it, or changed objects not flushed yet."""
    if session.info.get(_PENDING):
        return True
    return bool(session.new or session.deleted or any(session.is_modified(instance) for instance in session.dirty))


@event.listens_for(Session, "after_flush")
def _flushed(session, flush_context):
    note_write(session)


@event.listens_for(Session, "do_orm_execute")
def _executed(state):
    if state.is_insert or state.is_update or state.is_delete:
        note_write(state.session)


event.listen(Session, "after_commit", _forget)
event.listen(Session, "after_rollback", _forget)
event.listen(Session, "after_soft_rollback", _forget)


def _check_request(exception):
    if exception is not None or not db.session.registry.has():
        return
    if not pending_writes(db.session):
        return
    log.error("a request ended with writes its view did not commit; they are rolled back")
    if current_app.config.get("TESTING"):
        raise UncommittedWrites("the request ended with writes its view did not commit (commit them, or roll them back)")


def init_app(app):
    app.teardown_request(_check_request)
