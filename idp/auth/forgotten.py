"""« mot de passe oublié » and « identifiant oublié » (docs/parents-journey.md,
« Lost password or identifier »); the rules live in `idp.accounts.forgotten_credentials`.

Both request pages answer with the same page whatever was found, and count each request
against the address's budget. The person's `next` (an authorization request waiting for
the login) rides along: in the forms, then in the signed cookie until the link's page has
set the new password, so that the login that follows goes back to the relying party.
"""

from flask import Blueprint, render_template, request, session, url_for

from ..accounts.addresses import address_problems
from ..accounts.forgotten_credentials import (
    complete_password_reset,
    find_reset,
    lifetime_words,
    request_identifiers,
    request_password_reset,
)
from ..audit import audit
from ..extensions import db
from ..security import safe_next
from ..throttle import retry_message, throttle, too_many_attempts
from .forgotten_forms import ForgottenIdentifierForm, ForgottenPasswordForm, ResetPasswordForm

bp = Blueprint("recovery", __name__)

# The signed cookie's key for the `next` of a password reset in progress.
NEXT_KEY = "recovery_next"


def _ip():
    return request.remote_addr or ""


def _over_budget(action, form, field):
    """Count this request against the address's budget; the page to send when it is spent."""
    wait = throttle.request_budget(action, _ip())
    if not wait:
        return None
    audit(f"{action}_throttled", retry_after=wait)
    db.session.commit()
    field.errors.append(retry_message(wait))
    return too_many_attempts(render_template(f"auth/{action}.html", form=form, next_url=safe_next(form.next.data)), wait)


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgotten_password():
    next_url = safe_next(request.values.get("next"))
    form = ForgottenPasswordForm(next=next_url)
    if not form.validate_on_submit():
        return render_template("auth/forgotten_password.html", form=form, next_url=next_url)
    throttled = _over_budget("forgotten_password", form, form.identifier)
    if throttled is not None:
        return throttled

    request_password_reset(form.identifier.data, _ip())
    db.session.commit()
    if next_url:
        session[NEXT_KEY] = next_url
    else:
        session.pop(NEXT_KEY, None)
    return render_template("auth/recovery_sent.html", kind="password", lifetime=lifetime_words(), next_url=next_url)


@bp.route("/mot-de-passe-oublie/<token>", methods=["GET", "POST"])
def reset_password(token):
    """The link of the email. GET changes nothing (mail scanners open links)."""
    link = find_reset(token)
    if link is None:
        return render_template("auth/reset_password.html", state="invalid", form=None, lifetime=lifetime_words()), 404
    account = link.account
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/reset_password.html", state="ready", form=form, account=account)

    ip, identifier = _ip(), account.identifier
    wait = throttle.attempt("password_reset", identifier, ip)
    if wait:
        audit("password_reset_throttled", account=account, retry_after=wait)
        db.session.commit()
        form.temporary_password.errors.append(retry_message(wait))
        return too_many_attempts(render_template("auth/reset_password.html", state="ready", form=form, account=account), wait)

    outcome = complete_password_reset(link, form.temporary_password.data, form.password.data, form.password_confirmation.data)
    db.session.commit()
    if not outcome.wrong_secret:
        throttle.succeeded("password_reset", identifier, ip)
    if not outcome.ok:
        for name, messages in outcome.problems.items():
            getattr(form, name).errors = list(messages)
        return render_template("auth/reset_password.html", state="ready", form=form, account=account), 400
    next_url = safe_next(session.pop(NEXT_KEY, None))
    return render_template(
        "auth/reset_password.html",
        state="done",
        form=None,
        account=account,
        login_url=url_for("auth.login", next=next_url),
    )


@bp.route("/identifiant-oublie", methods=["GET", "POST"])
def forgotten_identifier():
    next_url = safe_next(request.values.get("next"))
    form = ForgottenIdentifierForm(next=next_url)
    if not form.validate_on_submit():
        return render_template("auth/forgotten_identifier.html", form=form, next_url=next_url)
    problems = address_problems(form.email.data.strip())
    if problems:
        form.email.errors = problems["email"]
        return render_template("auth/forgotten_identifier.html", form=form, next_url=next_url), 400
    throttled = _over_budget("forgotten_identifier", form, form.email)
    if throttled is not None:
        return throttled

    request_identifiers(form.email.data, _ip())
    db.session.commit()
    return render_template("auth/recovery_sent.html", kind="identifier", next_url=next_url)
