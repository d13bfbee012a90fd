"""The authorization endpoint and the consent page: who is logged in, must they log in
again, may they go to this relying party, have they agreed; then a code.

The request's own parameters travel with the person (login page, consent page) so that
any node can serve the next step; nothing about a pending authorization is stored.
"""

from datetime import timedelta
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import abort, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError

from ..accounts.access import PUPILS_LEFT, TELESERVICES_REFUSED, note_use, relying_party_refusal
from ..audit import audit
from ..auth.forms import LOGIN_FIELDS, LoginForm
from ..auth.login import is_answer, log_in, login_page, submitted_login_form
from ..auth.sessions import consume_fresh_login, current_login_session
from ..clock import now
from ..extensions import csrf, db
from ..models import AccountState, Consent
from ..overload import refusal
from ..relying_parties.subjects import subject_for
from ..security import allow_form_action, allow_image
from . import bp
from .keys import key_store
from .server import IssuerParameter, authorization_server

# Fields of the forms that answer an authorization request (login, consent).
FORM_FIELDS = LOGIN_FIELDS | {"decision"}


def _error_response(error):
    """Redirect protocol errors to a validated redirect URI (with `iss`); else explain."""
    if error.redirect_uri:
        server = authorization_server()
        response = server.handle_error_response(None, error)
        IssuerParameter().add_issuer_parameter(server, response)
        return response
    return render_template("oidc/error.html", error=error), 400


def _redirect_error(error_class, grant):
    """An error of a validated request, sent back to its relying party (with its state)."""
    return _error_response(error_class(redirect_uri=grant.redirect_uri, state=grant.request.payload.state))


def _prompts():
    return set(request.values.get("prompt", "").split())


def _hinted_sub():
    """The subject of a valid `id_token_hint` of ours, None without one; raises when forged."""
    hint = request.values.get("id_token_hint")
    if not hint:
        return None
    try:
        token = jwt.decode(hint, key_store().verification_keys(), algorithms=["RS256"])
    except (JoseError, ValueError) as error:
        raise InvalidRequestError("Invalid 'id_token_hint'.") from error
    return token.claims.get("sub")


def _hint_names_someone_else(hinted_sub, account, client):
    """True when an `id_token_hint` names another account than `account`, by the `sub`
    `client` knows it by."""
    return hinted_sub is not None and hinted_sub != subject_for(client, account.sub)


def _must_log_in_again(login_session, hinted_sub, client):
    """True when the live session does not satisfy prompt=login, max_age or the hint."""
    if "login" in _prompts():
        return True
    max_age = request.values.get("max_age", "")
    if max_age.isdigit() and now() - login_session.created_at > timedelta(seconds=int(max_age)):
        return True
    return _hint_names_someone_else(hinted_sub, login_session.account, client)


def _authorization_parameters():
    """The parameters of this authorization request, by GET or POST, without the fields of
    the login or consent form that answers it (a password never goes into a URL)."""
    return [(key, value) for key, value in request.values.items(multi=True) if key not in FORM_FIELDS]


def _this_request():
    """This authorization request as a local GET address (it may have come as a POST)."""
    return url_for("oidc.authorize") + "?" + urlencode(_authorization_parameters())


def _login_form(grant, form=None, status=200):
    """The login form, shown by this endpoint and posted back to this same request, whose
    answer is then the redirect to the relying party (no bounce through /connexion)."""
    if form is None:
        form = LoginForm()
        form.identifier.data = request.values.get("login_hint", "")[:64] or None
    this_request = _this_request()
    return login_page(form, client=grant.client, action=this_request, next_url=this_request, status=status)


def _consent_needed(account, client, scope):
    if "consent" in _prompts():
        return True
    if client.trusted:
        return False
    consent = db.session.get(Consent, (account.id, client.id))
    return consent is None or not consent.covers(scope)


def _respond(grant, account):
    """The redirect with a code (or access_denied when `account` is None), with `iss`.

    The grant was validated by get_consent_grant in this same request, so this calls the
    grant directly rather than Authlib's create_authorization_response, which would run
    every validation (and its queries) a second time.
    """
    server = authorization_server()
    try:
        response = server.handle_response(*grant.create_authorization_response(grant.redirect_uri, account))
    except OAuth2Error as error:
        error.state = grant.request.payload.state
        response = server.handle_error_response(None, error)
    IssuerParameter().add_issuer_parameter(server, response)
    return response


def _issue_code(grant, login_session):
    account = login_session.account
    response = _respond(grant, account)
    note_use(account)
    audit("authorized", account=account, client=grant.client, scope=grant.request.scope)
    db.session.commit()
    return response


def _session_to_go_on_with(grant, login_session, hinted_sub, prompts):
    """The login session this request goes on with, or the response to send instead: the
    login form (shown here and answered here), what its answer calls for, or an error for
    prompt=none."""
    login_form = submitted_login_form()
    if login_form is not None:
        # The answer of the form _login_form showed: a login made for this very request.
        if not login_form.validate_on_submit():
            return _login_form(grant, login_form)
        return log_in(login_form, lambda form: _login_form(grant, form), _this_request())
    fresh = login_session is not None and consume_fresh_login(login_session)
    if login_session is not None and not fresh and _must_log_in_again(login_session, hinted_sub, grant.client):
        if "none" in prompts:
            return _redirect_error(LoginRequiredError, grant)
        login_session = None
    if login_session is None:
        return refusal() or _login_form(grant)
    return login_session


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt
def authorize():
    login_session = current_login_session()
    try:
        grant = authorization_server().get_consent_grant(end_user=login_session.account if login_session else None)
    except OAuth2Error as error:
        return _error_response(error)
    try:
        hinted_sub = _hinted_sub()
    except InvalidRequestError as error:
        error.redirect_uri, error.state = grant.redirect_uri, grant.request.payload.state
        return _error_response(error)
    allow_form_action(grant.redirect_uri)
    prompts = _prompts()

    outcome = _session_to_go_on_with(grant, login_session, hinted_sub, prompts)
    if is_answer(outcome):
        db.session.commit()  # what a failed or refused login recorded
        return outcome
    login_session = outcome
    if _hint_names_someone_else(hinted_sub, login_session.account, grant.client):
        # The person logged in as someone else than the relying party asked for.
        db.session.commit()
        return _redirect_error(LoginRequiredError, grant)

    account, client = login_session.account, grant.client
    refusal = relying_party_refusal(account, client)
    if refusal is not None:
        if "none" in prompts:
            return _redirect_error(LoginRequiredError, grant)
        audit("authorization_refused", account=account, client=client, reason=refusal)
        db.session.commit()
        if refusal == AccountState.PENDING_EMAIL.value:
            # The page of an account waiting for its link (docs/parents-journey.md, « Activation »):
            # the address, resend, correct; once the link is followed, the activation page leads
            # back here.
            session["after_activation"] = _this_request()
            return redirect(url_for("activation.pending"), code=303)
        if refusal in (TELESERVICES_REFUSED, PUPILS_LEFT):
            # Nothing to do here: the only way on is back to the service, which is told no.
            back = _redirect_error(AccessDeniedError, grant).location
            return render_template("oidc/refused.html", reason=refusal, client=client, back=back), 403
        return render_template("auth/refused.html", reason=refusal, client=client, account=account), 403

    if _consent_needed(account, client, grant.request.scope):
        if "none" in prompts:
            return _redirect_error(ConsentRequiredError, grant)
        if client.logo_uri:
            allow_image(client.logo_uri)
        page = render_template(
            "oidc/consent.html",
            client=client,
            account=account,
            scopes=grant.request.scope.split(),
            action=url_for("oidc.consent") + "?" + urlencode(_authorization_parameters()),
        )
        db.session.commit()  # a login made by this request
        return page
    return _issue_code(grant, login_session)


@bp.post("/authorize/consent")
def consent():
    """The consent form's answer (CSRF-protected, unlike the protocol endpoint)."""
    login_session = current_login_session()
    if login_session is None:
        return redirect(_this_request(), code=303)  # the authorization request asks to log in
    account = login_session.account
    try:
        grant = authorization_server().get_consent_grant(end_user=account)
    except OAuth2Error as error:
        return _error_response(error)
    client = grant.client
    if relying_party_refusal(account, client) is not None:
        abort(403)
    allow_form_action(grant.redirect_uri)
    if request.form.get("decision") != "allow":
        audit("consent_refused", account=account, client=client, scope=grant.request.scope)
        response = _respond(grant, None)
        db.session.commit()
        return response
    existing = db.session.get(Consent, (account.id, client.id))
    scopes = set(grant.request.scope.split())
    if existing is None:
        db.session.add(Consent(account_id=account.id, client_pk=client.id, scopes=" ".join(sorted(scopes))))
    else:
        existing.scopes = " ".join(sorted(scopes | set(existing.scopes.split())))
        existing.granted_at = now()
    audit("consent_given", account=account, client=client, scope=grant.request.scope)
    return _issue_code(grant, login_session)
