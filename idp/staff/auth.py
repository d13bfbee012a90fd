"""Staff login: email and password, then the second factor (enrolled at the first login),
the enrolment link that sets the password, and logout.

Between the password and the second factor, the signed UI cookie remembers who typed the
right password, for a few minutes; only the second factor opens a staff session.
"""

from datetime import timedelta

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import clock
from ..audit import audit
from ..errors import InvalidInput
from ..extensions import db
from ..models import StaffMember, StaffRole
from ..staff_accounts.members import (
    check_password,
    check_second_factor,
    enrol_second_factor,
    find_by_enrolment_token,
    find_staff,
    remaining_recovery_codes,
    set_password,
    visible_establishments,
)
from ..staff_accounts.totp import decrypt_secret, encrypt_secret, grouped, new_secret, provisioning_uri, qr_code_svg
from ..throttle import retry_message, throttle, too_many_attempts
from . import bp
from .access import back_office_path, staff_required
from .forms import EnrolmentForm, LoginForm, SecondFactorForm
from .sessions import end_staff_session, start_staff_session

PENDING_KEY = "staff_pending"
SETUP_KEY = "staff_totp_setup"
NEXT_KEY = "staff_next"
# Time between the right password and the second factor.
PENDING_LIFETIME = timedelta(minutes=10)


def _remember_password_step(staff):
    session[PENDING_KEY] = {"id": staff.id, "at": clock.timestamp()}


def _pending_staff():
    """The staff member who typed the right password a moment ago in this browser, or None."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or clock.timestamp() - pending.get("at", 0) > PENDING_LIFETIME.total_seconds():
        return None
    staff = db.session.get(StaffMember, pending.get("id"))
    if staff is None or staff.disabled_at is not None or staff.password_hash is None:
        return None
    return staff


def _forget_pending():
    for key in (PENDING_KEY, SETUP_KEY):
        session.pop(key, None)


def _login_again():
    flash(_("Votre connexion a expiré : saisissez à nouveau votre adresse mail et votre mot de passe."))
    return redirect(url_for("staff.login"))


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    form = LoginForm(next=back_office_path(request.values.get("next")))
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form)
    email = form.email.data.strip().lower()
    ip = request.remote_addr or ""
    wait = throttle.attempt("staff_login", email, ip)
    if wait:
        audit("staff_login_throttled", retry_after=wait)
        db.session.commit()
        form.password.errors.append(retry_message(wait))
        return too_many_attempts(render_template("staff/login.html", form=form), wait)
    staff = check_password(email, form.password.data)
    if staff is None:
        # The email is recorded only when it is a staff member's: a typo may be a password.
        known = find_staff(email) is not None
        audit("staff_login_failed", step="password", **({"staff": email} if known else {"known": False}))
        db.session.commit()
        form.password.errors.append(_("Adresse mail ou mot de passe incorrect."))
        return render_template("staff/login.html", form=form)
    throttle.succeeded("staff_login", email, ip)
    db.session.commit()  # a rehashed password
    _remember_password_step(staff)
    session[NEXT_KEY] = back_office_path(form.next.data)
    if staff.enrolled_at is None:
        return redirect(url_for("staff.second_factor_setup"), code=303)
    return redirect(url_for("staff.second_factor"), code=303)


@bp.route("/connexion/code", methods=["GET", "POST"])
def second_factor():
    staff = _pending_staff()
    if staff is None:
        return _login_again()
    if staff.enrolled_at is None:
        return redirect(url_for("staff.second_factor_setup"))
    form = SecondFactorForm()
    if not form.validate_on_submit():
        return render_template("staff/second_factor.html", form=form)
    ip = request.remote_addr or ""
    wait = throttle.attempt("staff_second_factor", staff.email, ip)
    if wait:
        audit("staff_login_throttled", staff=staff.email, retry_after=wait)
        db.session.commit()
        form.code.errors.append(retry_message(wait))
        return too_many_attempts(render_template("staff/second_factor.html", form=form), wait)
    method = check_second_factor(staff, form.code.data)
    if method is None:
        audit("staff_login_failed", staff=staff.email, step="second_factor")
        db.session.commit()
        form.code.errors.append(_("Code incorrect ou déjà utilisé : attendez le code suivant de votre application."))
        return render_template("staff/second_factor.html", form=form)
    throttle.succeeded("staff_second_factor", staff.email, ip)
    _forget_pending()
    start_staff_session(staff)
    audit("staff_login", staff=staff.email, second_factor=method)
    db.session.commit()
    if method == "recovery_code":
        left = remaining_recovery_codes(staff)
        flash(_("Vous avez utilisé un code de secours ; il vous en reste %(count)d.", count=left))
    return redirect(session.pop(NEXT_KEY, None) or url_for("staff.home"), code=303)


@bp.route("/double-authentification", methods=["GET", "POST"])
def second_factor_setup():
    """First login: scan the QR code (or type the secret), then prove it with a code."""
    staff = _pending_staff()
    if staff is None:
        return _login_again()
    if staff.enrolled_at is not None:
        return redirect(url_for("staff.second_factor"))
    secret = decrypt_secret(session[SETUP_KEY], staff.id) if SETUP_KEY in session else None
    if secret is None:
        # Kept encrypted in the signed UI cookie until confirmed, so that reloading the
        # page does not change a QR code already scanned.
        secret = new_secret()
        session[SETUP_KEY] = encrypt_secret(secret, staff.id)
    form = SecondFactorForm()
    if form.validate_on_submit():
        ip = request.remote_addr or ""
        wait = throttle.attempt("staff_second_factor", staff.email, ip)
        if wait:
            form.code.errors.append(retry_message(wait))
            return too_many_attempts(_setup_page(staff, secret, form), wait)
        codes = enrol_second_factor(staff, secret, form.code.data.strip().replace(" ", ""))
        if codes is None:
            audit("staff_enrolment_failed", staff=staff.email)
            db.session.commit()
            form.code.errors.append(_("Code incorrect : vérifiez l'heure de votre téléphone et saisissez le code affiché."))
            return _setup_page(staff, secret, form)
        throttle.succeeded("staff_second_factor", staff.email, ip)
        _forget_pending()
        start_staff_session(staff)
        audit("staff_enrolled", staff=staff.email)
        audit("staff_login", staff=staff.email, second_factor="totp")
        db.session.commit()
        # Shown once, in this answer: the database keeps only their hashes.
        return render_template("staff/recovery_codes.html", codes=codes, next_url=session.pop(NEXT_KEY, None) or url_for("staff.home"))
    return _setup_page(staff, secret, form)


def _setup_page(staff, secret, form):
    uri = provisioning_uri(secret, staff)
    qr_code = qr_code_svg(
        uri,
        _("QR code à scanner avec votre application d'authentification"),
        _("Il contient la clé affichée en texte sous l'image."),
    )
    return render_template("staff/second_factor_setup.html", form=form, qr_code=qr_code, secret=grouped(secret), email=staff.email)


@bp.route("/inscription/<token>", methods=["GET", "POST"])
def enrol(token):
    """The enrolment link: choose a password, then enrol the second factor."""
    staff = find_by_enrolment_token(token)
    if staff is None:
        return render_template("staff/enrolment_invalid.html"), 404
    form = EnrolmentForm()
    if form.validate_on_submit():
        try:
            set_password(staff, form.password.data)
        except InvalidInput as error:
            form.password.errors.append(str(error))
        else:
            audit("staff_password_set", staff=staff.email)
            db.session.commit()
            _forget_pending()
            _remember_password_step(staff)
            return redirect(url_for("staff.second_factor_setup"), code=303)
    return render_template("staff/enrol.html", form=form, staff=staff)


@bp.post("/deconnexion")
def logout():
    ended = end_staff_session()
    if ended is not None:
        audit("staff_logout", staff=ended.staff.email)
    db.session.commit()
    flash(_("Vous êtes déconnecté."))
    return redirect(url_for("staff.login"), code=303)


@bp.get("/")
@staff_required
def home():
    establishments = visible_establishments(g.staff)
    if g.staff.role is StaffRole.ETABLISSEMENT and len(establishments) == 1:
        return redirect(url_for("staff.dashboard", uai=establishments[0].uai))
    return render_template("staff/home.html", establishments=establishments)
