"""Server-side login sessions (docs/architecture.md, « Request flows »): single sign-on across
relying parties.

The cookie carries a random value; the table keeps its SHA-256 and the session's
account, login time, last activity and absolute end. Any node can serve any request.
"""

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, g, request, session
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import joinedload

from ..accounts.logouts import Ending, notify_relying_parties
from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import LoginSession, Token
from ..security import new_token, token_hash

COOKIE_NAME = "idp_session"
# A login counts as "just done" for the request that sent the person to the login page
# (and for no other) during this long; after that, prompt=login and max_age apply afresh.
FRESH_LOGIN = timedelta(minutes=10)
FRESH_LOGIN_KEY = "fresh_login_session"
# Last activity is written at most this often, so that every page view is not a write.
TOUCH_INTERVAL = timedelta(seconds=60)


SESSION_LOOKUP = select(LoginSession).options(joinedload(LoginSession.account)).where(LoginSession.token_hash == bindparam("digest"))


def within_lifetimes(row, moment):
    """Not ended, before its absolute end, and used within the idle lifetime: the time rule
    of every login session, a family's or a staff member's."""
    idle = timedelta(seconds=current_app.config["SESSION_IDLE_LIFETIME"])
    return row.ended_at is None and row.expires_at > moment and row.last_seen_at + idle > moment


def _is_live(login_session, moment):
    return within_lifetimes(login_session, moment) and login_session.account is not None


def live_sessions(moment):
    """The SQL condition of `_is_live` (keep the two in step), for queries on LoginSession."""
    idle = timedelta(seconds=current_app.config["SESSION_IDLE_LIFETIME"])
    return and_(LoginSession.ended_at.is_(None), LoginSession.expires_at > moment, LoginSession.last_seen_at > moment - idle)


def current_login_session():
    """The live login session of this browser, or None (looked up once per request).

    The new last activity it notes is written with the request's transaction, which the
    view commits.
    """
    if "login_session" in g:
        return g.login_session
    found = None
    value = request.cookies.get(COOKIE_NAME)
    if value:
        candidate = db.session.scalar(SESSION_LOOKUP, {"digest": token_hash(value)})
        moment = now()
        if candidate is not None and _is_live(candidate, moment):
            found = candidate
            if moment - candidate.last_seen_at > TOUCH_INTERVAL:
                candidate.last_seen_at = moment
        else:
            g.clear_session_cookie = True
    g.login_session = found
    return found


def start_login_session(account, for_url=None):
    """Open a session for `account` in this browser, replacing the one it had.

    `for_url` is the local URL the login page sends the person on to: the login counts as
    just done for that request only (`consume_fresh_login`).
    """
    previous = current_login_session()
    value = new_token()
    moment = now()
    if previous is not None:
        previous.ended_at = moment
    login_session = LoginSession(
        token_hash=token_hash(value),
        account=account,
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + timedelta(seconds=current_app.config["SESSION_ABSOLUTE_LIFETIME"]),
        user_agent=request.headers.get("User-Agent", "")[:200],
        ip=request.remote_addr or "",
    )
    db.session.add(login_session)
    g.login_session = login_session
    g.new_session_cookie = value
    if for_url:
        db.session.flush()  # its id names the login in the signed cookie
        target = urlsplit(for_url)
        session[FRESH_LOGIN_KEY] = [login_session.id, _request_key(target.path, parse_qsl(target.query, keep_blank_values=True))]
    else:
        session.pop(FRESH_LOGIN_KEY, None)
    return login_session


def _request_key(path, parameters):
    """Names one request: its path and its parameters, in any order."""
    return token_hash(json.dumps([path, sorted(parameters)]))


def consume_fresh_login(login_session):
    """True once, when this request is the one the login of `login_session` was made for,
    right after it; so a login made before (or for another request) never passes for one
    that prompt=login or max_age asked for."""
    fresh = session.pop(FRESH_LOGIN_KEY, None)
    this_request = [login_session.id, _request_key(request.script_root + request.path, request.values.items(multi=True))]
    return fresh == this_request and now() - login_session.created_at < FRESH_LOGIN


def end_login_session(login_session, ending=None, client=None):
    """End a session and revoke the tokens it gave that are not for offline access; its
    relying parties hear of it for the reason `ending` (`client`: the relying party that
    asked for it), unless that was already done (None)."""
    if ending is not None:
        notify_relying_parties(ending, login_session=login_session, client=client)
    moment = now()
    login_session.ended_at = moment
    db.session.execute(
        update(Token)
        .where(Token.login_session_id == login_session.id, Token.revoked_at.is_(None), Token.refresh_token_hash.is_(None))
        .values(revoked_at=moment)
    )
    if g.get("login_session") is login_session:
        g.login_session = None
        g.clear_session_cookie = True


def log_out(client=None):
    """End this browser's login session, if it has one (the view commits); return it. Its
    other relying parties than `client`, the one asking, hear of it."""
    login_session = current_login_session()
    if login_session is None:
        return None
    audit("logout", account=login_session.account, client=client)
    end_login_session(login_session, Ending.LOGOUT, client)
    return login_session


def write_session_cookie(response):
    """after_request: set or clear the session cookie as this request decided."""
    config = current_app.config
    secure = config["SESSION_COOKIE_SECURE"]
    # SameSite=None keeps single sign-on for relying parties that POST their authorization
    # requests; browsers only accept it on secure cookies, so plain-http development uses Lax.
    same_site = "None" if secure else "Lax"
    value = g.get("new_session_cookie")
    if value:
        response.set_cookie(
            COOKIE_NAME, value, max_age=config["SESSION_ABSOLUTE_LIFETIME"], secure=secure, httponly=True, samesite=same_site
        )
    elif g.get("clear_session_cookie"):
        response.delete_cookie(COOKIE_NAME, secure=secure, httponly=True, samesite=same_site)
    return response
