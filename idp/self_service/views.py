"""« Gérer son compte » (docs/parents-journey.md, « Managing the account »): who I am and my
children, the password, the email address, the language, my open sessions and the services I
use. The rules are in `idp.accounts.profile` and `idp.accounts.services`; these views translate
HTTP.
"""

from functools import wraps
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts import profile
from ..accounts.logouts import Ending, front_channel_uris
from ..accounts.services import log_out_everywhere, revoke_saml_service, revoke_service, services_used
from ..audit import audit
from ..auth.sessions import current_login_session, end_login_session, live_sessions
from ..auth.views import logged_out_page
from ..clock import now
from ..extensions import db
from ..models import AccountState, LoginSession
from ..throttle import retry_message, throttle, too_many_attempts
from .devices import coarse_address, describe_device
from .forms import ConfirmEmailForm, EmailChangeForm, LanguageForm, PasswordChangeForm

bp = Blueprint("account", __name__, url_prefix="/compte")
bp.add_app_template_filter(describe_device, "device")
bp.add_app_template_filter(coarse_address, "coarse_address")

LANGUAGE_NAMES = {"fr": "Français", "en": "English"}


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        login_session = current_login_session()
        if login_session is None:
            return redirect(url_for("auth.login") + "?" + urlencode({"next": request.full_path}))
        return view(login_session, *args, **kwargs)

    return wrapped


def _language_form(account):
    form = LanguageForm()
    form.language.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in current_app.config["LANGUAGES"]]
    if not form.is_submitted():
        form.language.data = account.language
    return form


def _ip():
    return request.remote_addr or ""


@bp.get("/")
@login_required
def home(login_session):
    account = login_session.account
    sessions = db.session.scalars(
        select(LoginSession)
        .where(LoginSession.account_id == account.id, live_sessions(now()))
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    ).all()
    page = render_template(
        "account/home.html",
        account=account,
        current=login_session,
        sessions=sessions,
        services=services_used(account),
        email_change=profile.pending_email_change(account),
        language_form=_language_form(account),
    )
    db.session.commit()  # the last activity current_login_session noted
    return page


def _refused(template, form, outcome, **context):
    """The form again with the messages of a refused change (429 when throttled)."""
    db.session.commit()  # the audit rows and the throttle's failures stay
    for name, messages in outcome.problems.items():
        getattr(form, name).errors = [str(message) for message in messages]
    page = render_template(template, form=form, **context)
    return too_many_attempts(page, outcome.wait) if outcome.wait else (page, 400)


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password(login_session):
    account = login_session.account
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        db.session.commit()
        return render_template("account/password.html", form=form, account=account), 400 if form.is_submitted() else 200
    outcome = profile.change_password(
        account, form.current_password.data, form.password.data, form.password_confirmation.data, _ip(), login_session
    )
    if not outcome.ok:
        return _refused("account/password.html", form, outcome, account=account)
    db.session.commit()
    flash(_("Votre mot de passe a été changé. Vos autres appareils ont été déconnectés."), "success")
    return redirect(url_for("account.home"), code=303)


@bp.route("/adresse-mail", methods=["GET", "POST"])
@login_required
def change_email(login_session):
    account = login_session.account
    if not profile.may_change_email(account):
        db.session.commit()
        # A pending account corrects its address where its activation link is sent again.
        return redirect(url_for("activation.pending" if account.state == AccountState.PENDING_EMAIL else "account.home"))
    form = EmailChangeForm()
    if not form.validate_on_submit():
        db.session.commit()
        return render_template("account/email.html", form=form, account=account), 400 if form.is_submitted() else 200
    wait = throttle.request_budget("change_email", _ip())
    if wait:
        audit("email_change_throttled", account=account, retry_after=wait)
        return _refused("account/email.html", form, profile.Outcome({"email": [retry_message(wait)]}, wait), account=account)
    outcome = profile.request_email_change(account, form.current_password.data, form.email.data, form.email_confirmation.data, _ip())
    if not outcome.ok:
        return _refused("account/email.html", form, outcome, account=account)
    db.session.commit()
    flash(
        _(
            "Un courrier électronique a été envoyé à %(email)s. Ouvrez le lien qu'il contient pour confirmer la nouvelle adresse ; "
            "d'ici là, l'adresse de votre compte reste la même.",
            email=form.email.data.strip(),
        ),
        "success",
    )
    return redirect(url_for("account.home"), code=303)


@bp.route("/adresse-mail/<token>", methods=["GET", "POST"])
def confirm_email(token):
    """The link sent to a new address. GET changes nothing (mail scanners open links); the
    button's POST confirms. No login needed: the link proves the address."""
    link = profile.find_email_change(token)
    if link is None:
        return render_template("account/confirm_email.html", state="invalid", form=None), 404
    form = ConfirmEmailForm()
    if not form.validate_on_submit():
        return render_template("account/confirm_email.html", state="ready", form=form, link=link)
    wait = throttle.request_budget("confirm_email", _ip())
    if wait:
        form.submit.errors = [retry_message(wait)]
        page = render_template("account/confirm_email.html", state="ready", form=form, link=link)
        return too_many_attempts(page, wait)
    account = profile.confirm_email_change(link, current_login_session())
    if account is None:  # another request spent the link first
        db.session.rollback()
        return render_template("account/confirm_email.html", state="invalid", form=None), 404
    db.session.commit()
    return render_template("account/confirm_email.html", state="done", form=None, account=account)


@bp.post("/langue")
@login_required
def language(login_session):
    account = login_session.account
    form = _language_form(account)
    if not form.validate_on_submit():
        db.session.commit()
        abort(400)
    profile.set_language(account, form.language.data)
    session["locale"] = form.language.data
    db.session.commit()
    with force_locale(form.language.data):
        flash(_("La langue est enregistrée : les pages et les courriers électroniques de votre compte l'utiliseront."), "success")
    return redirect(url_for("account.home"), code=303)


@bp.post("/sessions/<id:session_id>/fin")
@login_required
def end_session(login_session, session_id):
    target = db.session.scalar(
        select(LoginSession).where(LoginSession.id == session_id, LoginSession.account_id == login_session.account_id, live_sessions(now()))
    )
    if target is None:
        abort(404)
    end_login_session(target, Ending.SESSION_ENDED)
    audit("session_ended", account=login_session.account, session=session_id)
    db.session.commit()
    if target is login_session:
        return redirect(url_for("auth.login"))
    flash(_("La session a été fermée."))
    return redirect(url_for("account.home"))


@bp.post("/deconnexion-partout")
@login_required
def everywhere(login_session):
    """« Se déconnecter partout »: this session too, and every token of the account."""
    log_out_everywhere(login_session.account)
    end_login_session(login_session)  # and this browser's cookie; its relying parties were told
    uris = front_channel_uris(login_session)
    db.session.commit()
    flash(
        _(
            "Toutes les sessions de votre compte sont fermées, sur tous vos appareils, "
            "et les services connectés devront vous redemander votre mot de passe."
        ),
        "success",
    )
    return logged_out_page(uris)


@bp.post("/services/<client_id>/retrait")
@login_required
def revoke(login_session, client_id):
    client = revoke_service(login_session.account, client_id[:64])
    return _revoked(client)


@bp.post("/services/saml/<id:sp_pk>/retrait")
@login_required
def revoke_saml(login_session, sp_pk):
    return _revoked(revoke_saml_service(login_session.account, sp_pk))


def _revoked(service):
    if service is None:
        abort(404)
    db.session.commit()
    flash(_("L'accès de %(service)s à votre compte est retiré.", service=service.name), "success")
    return redirect(url_for("account.home"))
