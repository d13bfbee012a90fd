"""Staff login sessions: a cookie of their own, sent to the back office only.

`idp_staff` is scoped to /gestion, HttpOnly and SameSite=Strict, and names a StaffSession
row by its hash; the families' `idp_session` is another cookie and another table, so a
staff login never lets the authorization endpoint skip a family's login, and the other way
round. Idle and absolute lifetimes are the families' settings.
"""

from datetime import timedelta

from flask import current_app, g, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..auth.sessions import within_lifetimes
from ..clock import now
from ..extensions import db
from ..models import StaffSession
from ..security import new_token, token_hash

COOKIE_NAME = "idp_staff"
COOKIE_PATH = "/gestion"
TOUCH_INTERVAL = timedelta(seconds=60)


def current_staff_session():
    """The live staff session of this browser, or None (looked up once per request)."""
    if "staff_session" in g:
        return g.staff_session
    found = None
    value = request.cookies.get(COOKIE_NAME)
    if value:
        candidate = db.session.scalar(
            select(StaffSession).options(joinedload(StaffSession.staff)).where(StaffSession.token_hash == token_hash(value))
        )
        moment = now()
        if candidate is not None and _is_live(candidate, moment):
            found = candidate
        else:
            g.clear_staff_cookie = True
    g.staff_session = found
    return found


def touch(staff_session):
    """Record activity (at most once a minute, so that a page view is rarely a write);
    True when the caller has something to commit."""
    moment = now()
    if moment - staff_session.last_seen_at <= TOUCH_INTERVAL:
        return False
    staff_session.last_seen_at = moment
    return True


def _is_live(staff_session, moment):
    return (
        within_lifetimes(staff_session, moment) and staff_session.staff.disabled_at is None and staff_session.staff.enrolled_at is not None
    )


def start_staff_session(staff):
    """Open a staff session in this browser (password and second factor are done)."""
    previous = current_staff_session()
    moment = now()
    if previous is not None:
        previous.ended_at = moment
    value = new_token()
    staff_session = StaffSession(
        token_hash=token_hash(value),
        staff=staff,
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + timedelta(seconds=current_app.config["SESSION_ABSOLUTE_LIFETIME"]),
        ip=request.remote_addr or "",
    )
    db.session.add(staff_session)
    staff.last_login_at = moment
    g.staff_session = staff_session
    g.new_staff_cookie = value
    return staff_session


def end_staff_session():
    staff_session = current_staff_session()
    if staff_session is not None:
        staff_session.ended_at = now()
    g.staff_session = None
    g.clear_staff_cookie = True
    return staff_session


def write_staff_cookie(response):
    """after_request of the back office: set or clear the staff cookie as the request decided."""
    options = {"path": COOKIE_PATH, "secure": current_app.config["SESSION_COOKIE_SECURE"], "httponly": True, "samesite": "Strict"}
    value = g.get("new_staff_cookie")
    if value:
        response.set_cookie(COOKIE_NAME, value, max_age=current_app.config["SESSION_ABSOLUTE_LIFETIME"], **options)
    elif g.get("clear_staff_cookie"):
        response.delete_cookie(COOKIE_NAME, **options)
    return response
