"""Protocol views: discovery, JWKS, token, userinfo, revocation, introspection, logout.

Each hands the request to Authlib; protocol errors are JSON (conventions, habit 2).
"""

import json

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError
from flask import abort, current_app, render_template, request
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from ..accounts.logouts import front_channel_uris
from ..auth.sessions import current_login_session, log_out
from ..auth.views import logged_out_page
from ..extensions import csrf, db
from ..metrics import USERINFO
from ..models.oauth import AUTH_METHODS, SCOPES, SUBJECT_TYPES
from ..relying_parties.subjects import subject_for
from ..urls import public_url
from . import bp, fast_path
from .claims import CLAIMS_SUPPORTED
from .keys import JWKS_MAX_AGE, key_store
from .parameters import check_parameters
from .server import authorization_server
from .tokens import Replay, revoke_replayed


@bp.before_request
def refuse_malformed_parameters():
    """One door for the protocol parameters (idp.oidc.parameters), before any view runs."""
    try:
        check_parameters(request)
    except InvalidRequestError as error:
        if request.endpoint in ("oidc.authorize", "oidc.consent"):
            return render_template("oidc/error.html", error=error), 400
        if request.endpoint == "oidc.end_session":
            abort(400)
        return authorization_server().handle_error_response(None, error)
    return None


def _discovery_document():
    config = current_app.config
    return {
        "issuer": config["ISSUER"],
        "authorization_endpoint": public_url("oidc.authorize"),
        "token_endpoint": public_url("oidc.token"),
        "userinfo_endpoint": public_url("oidc.userinfo"),
        "jwks_uri": public_url("oidc.jwks"),
        "end_session_endpoint": public_url("oidc.end_session"),
        "revocation_endpoint": public_url("oidc.revoke"),
        "introspection_endpoint": public_url("oidc.introspect"),
        "scopes_supported": list(SCOPES),
        "claims_supported": CLAIMS_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": list(SUBJECT_TYPES),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": config["LANGUAGES"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
    }


def _json_document(body, max_age):
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@bp.get("/.well-known/openid-configuration")
def discovery():
    # The document only depends on the settings: serialised once per process.
    body = current_app.extensions.get("idp.discovery")
    if body is None:
        body = current_app.extensions["idp.discovery"] = json.dumps(_discovery_document()).encode()
    return _json_document(body, 3600)


@bp.get("/jwks.json")
def jwks():
    # A new key is published JWKS_MAX_AGE (and more) before it signs.
    return _json_document(json.dumps(key_store().jwks()).encode(), JWKS_MAX_AGE)


@bp.post("/token")
@csrf.exempt
def token():
    server = authorization_server()
    try:
        response = server.create_token_response()
    except Replay as replay:
        revoke_replayed(replay)
        return server.handle_error_response(None, InvalidGrantError())
    fast_path.commit()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    response = authorization_server().create_endpoint_response("userinfo")
    USERINFO.labels(result="served" if response.status_code == 200 else "refused").inc()
    return response


@bp.post("/revoke")
@csrf.exempt
def revoke():
    response = authorization_server().create_endpoint_response("revocation")
    db.session.commit()
    return response


@bp.post("/introspect")
@csrf.exempt
def introspect():
    return authorization_server().create_endpoint_response("introspection")


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt
def end_session():
    """RP-initiated logout. Without a valid id_token_hint naming them, the person confirms first."""
    server = authorization_server()
    try:
        logout_request = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        # An invalid hint never leads to a redirect (RP-Initiated Logout §4), but the
        # person may still end their session here.
        logout_request = None
    login_session = current_login_session()
    if login_session is not None and not _vouched(logout_request, login_session) and not _confirmed():
        params = [(key, value) for key, value in request.values.items(multi=True) if key not in ("csrf_token", "confirm")]
        return render_template("auth/logout_confirm.html", account=login_session.account, params=params)
    if logout_request is None:
        ended = log_out()
        db.session.commit()
        return logged_out_page(front_channel_uris(ended))
    response = server.create_endpoint_response("end_session", logout_request)
    uris = front_channel_uris(login_session, except_client=logout_request.client)
    db.session.commit()
    if response is not None and not uris:
        return response
    # The other relying parties' front-channel URIs load on our page before the person goes
    # back to the one that asked.
    return logged_out_page(uris, continue_url=response.location if response is not None else None)


def _vouched(logout_request, login_session):
    """A valid id_token_hint that names the person logged in here: no need to ask them."""
    return (
        logout_request is not None
        and not logout_request.needs_confirmation
        and logout_request.client is not None
        and logout_request.id_token_claims.get("sub") == subject_for(logout_request.client, login_session.account.sub)
    )


def _confirmed():
    if request.method != "POST" or "confirm" not in request.form:
        return False
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True
