"""The login door: the login form's answer, wherever the form was shown.

The form is shown by the login page (`/connexion`, for people who come to the provider
directly) and by the authorization endpoint itself, so that a login from a relying party
costs the browser two requests to the provider: the form, then its answer, which is
already the redirect to the relying party.
"""

from flask import current_app, render_template, request
from flask_babel import gettext as _

from ..accounts.access import find_account, note_use, provider_refusal
from ..accounts.identifiers import normalize
from ..accounts.passwords import check_credentials
from ..audit import audit
from ..metrics import LOGINS
from ..models import AccountState, LoginSession
from ..overload import gate, overload_page, waited_too_long
from ..throttle import retry_message, throttle, too_many_attempts
from .activation import begin_first_connection
from .forms import LoginForm
from .sessions import start_login_session


def login_page(form, client=None, action=None, next_url=None, status=200):
    """The login form. `action` is where it posts (the login page's own URL by default);
    `next_url` is where the person goes on to, and comes back to after a recovery."""
    page = render_template("auth/login.html", form=form, client=client, action=action, next_url=next_url)
    return page, status


def submitted_login_form():
    """The login form posted with this request, or None when the request is not its answer."""
    if request.method != "POST" or "identifier" not in request.form:
        return None
    return LoginForm()


def log_in(form, show_form, next_url=None, sent_on=False):
    """Check the answer of a validated login form; `next_url` is where the person goes on.

    With `sent_on`, the person is redirected to `next_url` after the login, which counts
    as just done for that request only; without it the login serves this very request.
    Returns the login session opened for the account, or the response to send instead:
    the form again with its message (`show_form(form)` gives it), the wait imposed by the
    throttle, the first connection of an issued account, the refusal of an account
    that may not log in, or the overload page when this worker has as many logins in
    progress as it may take (idp/overload.py). The caller commits.
    """
    login_gate = gate()
    if waited_too_long(request.environ, current_app.config) or not login_gate.enter():
        return overload_page("answer")
    try:
        return _check_login(form, show_form, next_url, sent_on)
    finally:
        login_gate.leave()


def _check_login(form, show_form, next_url, sent_on):
    identifier = normalize(form.identifier.data)
    ip = request.remote_addr or ""
    wait = throttle.attempt("login", identifier, ip)
    if wait:
        audit("login_throttled", identifier=identifier, retry_after=wait)
        LOGINS.labels(result="throttled", reason="").inc()
        form.password.errors.append(retry_message(wait))
        return too_many_attempts(show_form(form), wait)

    account = find_account(identifier)
    credential = check_credentials(account, form.password.data)
    if credential is None:
        audit("login_failed", account=account, known=account is not None)
        LOGINS.labels(result="wrong_password", reason="").inc()
        form.password.errors.append(_("Identifiant ou mot de passe incorrect."))
        return show_form(form)
    throttle.succeeded("login", identifier, ip)
    if credential == "provisional" and account.state == AccountState.ISSUED:
        audit("login_provisional", account=account)
        LOGINS.labels(result="provisional", reason="").inc()
        return begin_first_connection(account, next_url)

    refusal = provider_refusal(account)
    if refusal is not None:
        audit("login_refused", account=account, reason=refusal)
        LOGINS.labels(result="refused", reason=refusal).inc()
        return render_template("auth/refused.html", reason=refusal, account=account, client=None), 403

    login_session = start_login_session(account, next_url if sent_on else None)
    note_use(account)
    audit("login", account=account)
    LOGINS.labels(result="success", reason="").inc()
    return login_session


def is_answer(outcome):
    """True when `log_in` gave a response to send rather than a login session."""
    return not isinstance(outcome, LoginSession)
