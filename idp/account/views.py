"""« Gérer son compte »: who I am, my open sessions, the services I allowed.

Changing the password and the email address arrive with the life-cycle issue.
"""

from functools import wraps
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import audit
from ..auth.sessions import current_login_session, end_login_session, live_sessions
from ..clock import now
from ..extensions import db
from ..models import Consent, LoginSession
from .devices import describe_device

bp = Blueprint("account", __name__, url_prefix="/compte")
bp.add_app_template_filter(describe_device, "device")

MAX_ID = 2**31 - 1  # the largest id of an integer column


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        login_session = current_login_session()
        if login_session is None:
            return redirect(url_for("auth.login") + "?" + urlencode({"next": request.full_path}))
        return view(login_session, *args, **kwargs)

    return wrapped


@bp.get("/")
@login_required
def home(login_session):
    account = login_session.account
    moment = now()
    sessions = db.session.scalars(
        select(LoginSession).where(LoginSession.account_id == account.id, live_sessions(moment)).order_by(LoginSession.created_at.desc())
    ).all()
    consents = db.session.scalars(select(Consent).where(Consent.account_id == account.id)).all()
    page = render_template("account/home.html", account=account, current=login_session, sessions=sessions, consents=consents)
    db.session.commit()  # the last activity current_login_session noted
    return page


@bp.post(f"/sessions/<int(max={MAX_ID}):session_id>/fin")
@login_required
def end_session(login_session, session_id):
    target = db.session.scalar(
        select(LoginSession).where(LoginSession.id == session_id, LoginSession.account_id == login_session.account_id, live_sessions(now()))
    )
    if target is None:
        abort(404)
    end_login_session(target)
    audit("session_ended", account=login_session.account, session=session_id)
    db.session.commit()
    if target is login_session:
        return redirect(url_for("auth.login"))
    flash(_("La session a été fermée."))
    return redirect(url_for("account.home"))


@bp.post("/services/<client_id>/retrait")
@login_required
def revoke_consent(login_session, client_id):
    consent = db.session.scalar(
        select(Consent).where(Consent.account_id == login_session.account_id, Consent.client.has(client_id=client_id))
    )
    if consent is None:
        abort(404)
    audit("consent_revoked", account=login_session.account, client=consent.client)
    db.session.delete(consent)
    db.session.commit()
    flash(_("L'autorisation a été retirée."))
    return redirect(url_for("account.home"))
