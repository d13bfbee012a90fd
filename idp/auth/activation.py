"""First connection, the page of an account waiting for its activation, and activation.

The login sends an issued account whose provisional secret was right here (the account is
remembered in the signed cookie for `FIRST_CONNECTION_WINDOW`); the rules themselves live in
`idp.accounts.first_connection`.
"""

from datetime import timedelta
from functools import partial

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.access import pupils_of
from ..accounts.first_connection import activate, change_pending_email, complete_first_connection, find_activation, resend_activation
from ..audit import audit
from ..clock import timestamp
from ..extensions import db
from ..models import Account, AccountState, LegalGuardian
from ..throttle import retry_message, throttle, too_many_attempts
from .activation_forms import ActivateForm, CorrectEmailForm, FirstConnectionForm, ResendForm, parse_birth_date
from .sessions import current_login_session, start_login_session

bp = Blueprint("activation", __name__)

FIRST_CONNECTION_KEY = "first_connection"
FIRST_CONNECTION_WINDOW = timedelta(minutes=30)


def begin_first_connection(account, next_url=None):
    """Called by the login once the provisional secret was right: on to the guide's form."""
    session[FIRST_CONNECTION_KEY] = {"account": account.id, "at": timestamp(), "next": next_url}
    return redirect(url_for("activation.first_connection"), code=303)


def _first_connection_account():
    pending = session.get(FIRST_CONNECTION_KEY)
    if not isinstance(pending, dict) or timestamp() - int(pending.get("at", 0)) > FIRST_CONNECTION_WINDOW.total_seconds():
        return None
    account = db.session.get(Account, pending.get("account"))
    if account is None or account.state != AccountState.ISSUED:
        return None
    return account


def _school_email(account):
    return db.session.scalar(select(LegalGuardian.school_email).where(LegalGuardian.account_id == account.id))


@bp.route("/premiere-connexion", methods=["GET", "POST"])
def first_connection():
    account = _first_connection_account()
    if account is None:
        flash(_("Pour la première connexion, saisissez l'identifiant et le mot de passe provisoire fournis par l'établissement."))
        return redirect(url_for("auth.login"))
    form = FirstConnectionForm()
    suggested = _school_email(account)
    if request.method == "GET":
        # A suggestion in the first field only: the confirmation is the person's own typing.
        form.email.data = suggested
    pupils = pupils_of(account)
    page = partial(render_template, "auth/first_connection.html", form=form, account=account, pupils=pupils, suggested_email=suggested)
    if not form.validate_on_submit():
        return page()

    # The birth date is a credential: its checks are throttled like the login's (on top of
    # the account's own count), when a date was given to compare.
    ip, identifier = request.remote_addr or "", account.identifier
    birth_date = parse_birth_date(form.birth_date.data)
    wait = throttle.attempt("first_connection", identifier, ip) if birth_date is not None else 0
    if wait:
        audit("first_connection_throttled", account=account, retry_after=wait)
        db.session.commit()
        form.birth_date.errors = [retry_message(wait)]
        return too_many_attempts(page(), wait)

    outcome = complete_first_connection(
        account,
        form.password.data,
        form.password_confirmation.data,
        form.email.data,
        form.email_confirmation.data,
        birth_date,
        language=str(get_locale() or "fr"),
    )
    if outcome.birth_date_checked and not outcome.wrong_birth_date:
        throttle.succeeded("first_connection", identifier, ip)
    if not outcome.ok:
        db.session.commit()  # the count of a wrong date and its audit row stay
    if outcome.over:
        session.pop(FIRST_CONNECTION_KEY, None)
        return redirect(url_for("auth.login"), code=303)
    if outcome.blocked:
        session.pop(FIRST_CONNECTION_KEY, None)
        return render_template("auth/refused.html", reason="blocked", account=account, client=None), 403
    if not outcome.ok:
        for name, messages in outcome.problems.items():
            getattr(form, name).errors = list(messages)
        return page(), 400

    next_url = session.pop(FIRST_CONNECTION_KEY, {}).get("next")
    if next_url:
        session["after_activation"] = next_url
    start_login_session(account)
    db.session.commit()
    return redirect(url_for("activation.pending"), code=303)


def _pending_account():
    login_session = current_login_session()
    if login_session is None or login_session.account.state != AccountState.PENDING_EMAIL:
        return None
    return login_session.account


@bp.route("/activation-en-attente", methods=["GET", "POST"])
def pending():
    """What an account waiting for its activation link sees: the address, resend, correct."""
    account = _pending_account()
    if account is None:
        return redirect(url_for("auth.index"))
    resend, correct = ResendForm(prefix="resend"), CorrectEmailForm(prefix="correct")
    status = 200
    if request.method == "POST":
        # Each press sends an email: a budget per address and per account bounds them.
        wait = throttle.request_budget("activation_email", request.remote_addr or "", account.identifier)
        if wait:
            audit("activation_email_throttled", account=account, retry_after=wait)
            db.session.commit()
            page = render_template("auth/pending.html", account=account, resend=resend, correct=correct, retry=retry_message(wait))
            return too_many_attempts(page, wait)
        if "resend-submit" in request.form and resend.validate_on_submit():
            problems = resend_activation(account)
            if not problems:
                db.session.commit()
                flash(_("Un nouveau courrier électronique a été envoyé à %(email)s.", email=account.email))
                return redirect(url_for("activation.pending"), code=303)
            correct.email.errors = list(problems["email"])
        if "correct-submit" in request.form and correct.validate_on_submit():
            problems = change_pending_email(account, correct.email.data, correct.email_confirmation.data)
            if not problems:
                db.session.commit()
                flash(_("L'adresse est corrigée : un courrier électronique a été envoyé à %(email)s.", email=account.email))
                return redirect(url_for("activation.pending"), code=303)
            for name, messages in problems.items():
                getattr(correct, name).errors = list(messages)
        status = 400
    return render_template("auth/pending.html", account=account, resend=resend, correct=correct, retry=None), status


@bp.route("/activation/<token>", methods=["GET", "POST"])
def activation(token):
    """GET changes nothing (mail scanners open links); the button's POST activates."""
    link = find_activation(token)
    if link is None:
        return render_template("auth/activation.html", state="invalid", form=None), 404
    form = ActivateForm()
    if not form.validate_on_submit():
        return render_template("auth/activation.html", state="ready", form=form, account=link.account)
    account = activate(link)
    if account is None:  # another request spent the link first
        db.session.rollback()
        return render_template("auth/activation.html", state="invalid", form=None), 404
    db.session.commit()
    return render_template(
        "auth/activation.html",
        state="done",
        form=None,
        account=account,
        next_url=session.pop("after_activation", None),
        ent_url=current_app.config["ENT_URL"],
    )
