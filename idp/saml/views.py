"""The SAML endpoints: metadata, single sign-on (HTTP-Redirect and HTTP-POST, and
IdP-initiated for the service providers registered for it), consent, single logout.

As at /authorize, the pending request travels with the person: the login form is shown by
/saml/sso itself and posts back to the same request (an AuthnRequest received by HTTP-POST
travels deflated in the addresses of the page); every step checks the request again, and
nothing about it is stored until it is answered (its ID, against replays).
"""

import calendar
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

from flask import Response, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md
from saml2 import xmldsig as ds
from saml2.metadata import entity_descriptor
from saml2.samlp import STATUS_INVALID_NAMEID_POLICY, STATUS_NO_PASSIVE, STATUS_REQUEST_DENIED
from saml2.sigver import SignatureError
from saml2.time_util import str_to_time
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..accounts.access import PUPILS_LEFT, TELESERVICES_REFUSED, note_use, relying_party_refusal
from ..accounts.logouts import FRAME_MAX_AGE, FRAME_SALT, Ending, front_channel_uris, name_id_in_session, note_service_provider
from ..audit import audit
from ..auth.forms import LoginForm
from ..auth.login import is_answer, log_in, login_page, submitted_login_form
from ..auth.sessions import consume_fresh_login, current_login_session, end_login_session
from ..auth.views import logged_out_page
from ..clock import now
from ..extensions import csrf, db
from ..inputs import accepts_long_queries
from ..models import Account, AccountState, LoginSession, SamlAnsweredRequest, SamlConsent, SamlServiceProvider, SessionSamlSp
from ..models.oauth import CLAIMS_BY_SCOPE
from ..oidc.claims import CLAIM_COLUMNS, user_info, with_schooling
from ..relying_parties.saml import find_service_provider, persistent_name_id
from ..security import allow_form_action, allow_framing_by_self
from . import bp, protocol
from .keys import published_certificates
from .protocol import FORMATS, MAX_RELAY_STATE, Refused

log = logging.getLogger(__name__)

URN_TO_FORMAT = {urn: name for name, urn in FORMATS.items()}
UNSPECIFIED = ("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", None, "")
# Every claim the OpenID side makes: the SAML attributes are some of them, renamed.
ALL_SCOPES = " ".join(["openid", *CLAIMS_BY_SCOPE])
# Metadata is asked seldom and changes with the keys only; relying parties may keep it this long.
METADATA_MAX_AGE = 300


# --- metadata -------------------------------------------------------------------------------


@bp.get("/saml/metadata")
def metadata():
    """The identity provider's metadata: its entity ID, endpoints, NameID formats, and the
    certificate of every signing key published (the next one before it signs)."""
    server, _metadata = protocol.server_for()
    descriptor = entity_descriptor(server.config)
    idp_descriptor = descriptor.idpsso_descriptor
    idp_descriptor.want_authn_requests_signed = None
    idp_descriptor.key_descriptor = [
        md.KeyDescriptor(use="signing", key_info=ds.KeyInfo(x509_data=[ds.X509Data(x509_certificate=ds.X509Certificate(text=body))]))
        for body in published_certificates()
    ]
    response = Response(str(descriptor), mimetype="application/samlmetadata+xml")
    response.headers["Cache-Control"] = f"public, max-age={METADATA_MAX_AGE}"
    return response


# --- the pending request --------------------------------------------------------------------


@dataclass
class Pending:
    """An AuthnRequest checked (or an IdP-initiated login), with where its answer goes."""

    sp: SamlServiceProvider
    metadata: object
    server: object
    request_id: str | None
    acs: str
    relay_state: str
    nameid_format: str | None  # None: an unsupported format was asked
    force_authn: bool
    is_passive: bool
    address: str  # this request as a local GET address
    expires_at: object = None

    @property
    def digest(self):
        return hashlib.sha256(f"{self.sp.entity_id}\0{self.request_id}".encode()).hexdigest()


def _relay_state(value):
    value = value or ""
    if len(value) > MAX_RELAY_STATE:
        raise Refused(_("La demande de connexion est trop grande (RelayState)."), "too_large")
    return value


def _incoming():
    """The AuthnRequest of this request: as sent by the service provider (HTTP-Redirect
    query, or HTTP-POST form), or as the login page carries it on (query, `binding=post`)."""
    if "SAMLRequest" in request.form:
        value, relay_state = request.form["SAMLRequest"], _relay_state(request.form.get("RelayState"))
        return BINDING_HTTP_POST, value, False, relay_state, None, None
    if "SAMLRequest" in request.args:
        value, relay_state = request.args["SAMLRequest"], _relay_state(request.args.get("RelayState"))
        if request.args.get("binding") == "post":
            return BINDING_HTTP_POST, value, True, relay_state, None, None
        return BINDING_HTTP_REDIRECT, value, True, relay_state, request.args.get("SigAlg"), request.args.get("Signature")
    raise Refused(_("Aucune demande de connexion SAML n'accompagne cette adresse."))


def _pending():
    """The pending AuthnRequest, checked; raises Refused."""
    binding, value, deflated, relay_state, sigalg, signature = _incoming()
    xml = protocol.decode(value, deflated)
    issuer, _request_id = protocol.peek(xml, "AuthnRequest")
    sp = find_service_provider(issuer)
    if sp is None:
        raise Refused(_("Ce service n'est pas enregistré auprès du fournisseur d'identité."), "unknown_service")
    server, metadata = protocol.server_for(sp)
    try:
        parsed = server.parse_authn_request(value, binding, relay_state=relay_state or None, sigalg=sigalg, signature=signature)
    except SignatureError:
        raise Refused(_("La signature de la demande de connexion est absente ou invalide."), "signature") from None
    except Exception as error:  # pysaml2's refusals of a message are of many kinds
        log.info("AuthnRequest from %s refused: %s", sp.entity_id, type(error).__name__)
        if "sign" in type(error).__name__.lower():
            raise Refused(_("La signature de la demande de connexion est absente ou invalide."), "signature") from None
        raise Refused(_("La demande de connexion est invalide.")) from None
    message = parsed.message
    if message.issuer is None or (message.issuer.text or "").strip() != sp.entity_id:
        raise Refused(_("La demande de connexion est invalide."))
    issued = _moment(message.issue_instant)
    config = current_app.config
    moment = now()
    if issued is None or issued > moment + timedelta(seconds=300) or issued < moment - timedelta(seconds=config["SAML_REQUEST_MAX_AGE"]):
        raise Refused(_("La demande de connexion a expiré : retournez sur le service et recommencez."), "expired")
    if message.protocol_binding not in (None, BINDING_HTTP_POST):
        raise Refused(
            _("Ce service demande une réponse par un autre moyen que HTTP-POST, que le fournisseur d'identité n'emploie pas."), "binding"
        )
    acs = metadata.acs_for(message.assertion_consumer_service_url, message.assertion_consumer_service_index)
    if acs is None:
        raise Refused(_("L'adresse de retour demandée n'est pas une de celles que ce service a déclarées."), "acs")
    policy = message.name_id_policy
    asked = policy.format if policy is not None else None
    nameid = sp.nameid_format if asked in UNSPECIFIED else URN_TO_FORMAT.get(asked)
    if binding == BINDING_HTTP_POST:
        carried = [("SAMLRequest", value if deflated else protocol.encode_deflated(xml)), ("RelayState", relay_state), ("binding", "post")]
    else:
        carried = [("SAMLRequest", value), ("RelayState", relay_state), ("SigAlg", sigalg), ("Signature", signature)]
    address = url_for("saml.sso") + "?" + urlencode([(key, item) for key, item in carried if item])
    pending = Pending(
        sp=sp,
        metadata=metadata,
        server=server,
        request_id=message.id,
        acs=acs,
        relay_state=relay_state,
        nameid_format=nameid,
        force_authn=message.force_authn == "true",
        is_passive=message.is_passive == "true",
        address=address,
        expires_at=issued + timedelta(seconds=config["SAML_REQUEST_MAX_AGE"] + 300),
    )
    if _answered(pending):
        raise Refused(_("Cette demande de connexion a déjà servi : retournez sur le service et recommencez."), "replay")
    return pending


def _idp_initiated():
    """An unsolicited login for a service provider registered for it: /saml/initier?sp=…"""
    sp = find_service_provider(request.args.get("sp", ""))
    if sp is None or not sp.idp_initiated:
        raise Refused(_("Ce service n'accepte pas de connexion ouverte depuis le fournisseur d'identité."), "idp_initiated")
    relay_state = _relay_state(request.args.get("RelayState"))
    server, metadata = protocol.server_for(sp)
    parameters = [("sp", sp.entity_id)] + ([("RelayState", relay_state)] if relay_state else [])
    return Pending(
        sp=sp,
        metadata=metadata,
        server=server,
        request_id=None,
        acs=metadata.default_acs(),
        relay_state=relay_state,
        nameid_format=sp.nameid_format,
        force_authn=False,
        is_passive=False,
        address=url_for("saml.idp_initiated") + "?" + urlencode(parameters),
    )


def _moment(value):
    """An xs:dateTime as naive UTC, or None."""
    try:
        return datetime.fromtimestamp(calendar.timegm(str_to_time(value)), UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


def _answered(pending):
    if pending.request_id is None:
        return False
    row = db.session.get(SamlAnsweredRequest, pending.digest)
    return row is not None and row.expires_at > now()


# Expired IDs deleted by each answer: the table stays as small as the requests of the last
# SAML_REQUEST_MAX_AGE, without a job of its own.
SWEEP_BATCH = 100


def _mark_answered(pending):
    """Remember the request's ID; False when another answer to it came first."""
    if pending.request_id is None:
        return True
    moment = now()
    expired = select(SamlAnsweredRequest.digest).where(SamlAnsweredRequest.expires_at <= moment).limit(SWEEP_BATCH)
    db.session.execute(db.delete(SamlAnsweredRequest).where(SamlAnsweredRequest.digest.in_(expired.scalar_subquery())))
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    inserted = db.session.scalar(
        dialect.insert(SamlAnsweredRequest)
        .values(digest=pending.digest, expires_at=pending.expires_at)
        .on_conflict_do_nothing()
        .returning(SamlAnsweredRequest.digest)
    )
    return inserted is not None


# --- answers --------------------------------------------------------------------------------


def _post_page(action, fields):
    """The page that posts a SAML message to the service provider: at once with the script,
    by its button without."""
    allow_form_action(action)
    return render_template("saml/post.html", action=action, fields=fields)


def _error_response(pending, status, text):
    """A signed Response with an error `status`, posted to the ACS of the metadata."""
    response = pending.server.create_error_response(pending.request_id, pending.acs, (status, text), sign=True)
    db.session.commit()
    return _post_page(pending.acs, protocol.post_form(str(response), pending.acs, pending.relay_state)["fields"])


def attributes_for(account, sp):
    """The attributes `sp` is registered for, under the names it expects: the claims of the
    OpenID side (idp.oidc.claims), one AttributeValue per value."""
    rows = db.session.execute(with_schooling(select(*CLAIM_COLUMNS).where(Account.id == account.id))).all()
    # As a relying party registered for exactly these claims (relying_parties.release); the
    # NameID, not `sub`, names the account to it.
    claims = user_info(rows, ALL_SCOPES, SimpleNamespace(subject_type="public", claims=list(sp.attributes), redirect_uris=[]))
    identity = {}
    for claim, name in sp.attributes.items():
        value = claims.get(claim)
        values = value if isinstance(value, list | tuple) else [value]
        values = [str(item) for item in values if item not in (None, "") and not isinstance(item, dict)]
        if values:
            identity[name] = values
    return identity


def _subject(pending, login_session):
    sp, account = pending.sp, login_session.account
    known = name_id_in_session(login_session, sp)
    if known is not None and known[1] == pending.nameid_format:
        return known[0]
    if pending.nameid_format == "persistent":
        return persistent_name_id(sp, account.sub)
    return secrets.token_hex(16)


def _respond(pending, login_session):
    """The assertion, posted to the ACS; the session remembers the service provider."""
    account, sp = login_session.account, pending.sp
    if not _mark_answered(pending):
        db.session.rollback()
        return _refused_page(Refused(_("Cette demande de connexion a déjà servi : retournez sur le service et recommencez."), "replay"))
    value = _subject(pending, login_session)
    subject = protocol.name_id(pending.nameid_format, value, sp)
    xml = protocol.authn_response(
        pending.server, pending.metadata, sp, pending.request_id, pending.acs, attributes_for(account, sp), subject, login_session
    )
    note_service_provider(login_session, sp, value, pending.nameid_format)
    note_use(account)
    audit("authorized", account=account, sp=sp.entity_id, protocol="saml")
    db.session.commit()
    return _post_page(pending.acs, protocol.post_form(xml, pending.acs, pending.relay_state)["fields"])


def _refused_page(refusal):
    audit("saml_request_refused", reason=refusal.code)
    db.session.commit()
    return render_template("saml/error.html", message=refusal.message), 400


def _login_form(pending, form=None):
    if form is None:
        form = LoginForm()
    return login_page(form, client=pending.sp, action=pending.address, next_url=pending.address)


def _session_to_go_on_with(pending, login_session):
    """As at /authorize: the session to go on with, or the response to send (the login form
    and its answer, or NoPassive for IsPassive)."""
    login_form = submitted_login_form()
    if login_form is not None:
        if not login_form.validate_on_submit():
            return _login_form(pending, login_form)
        return log_in(login_form, lambda form: _login_form(pending, form), pending.address)
    fresh = login_session is not None and consume_fresh_login(login_session)
    if login_session is not None and not fresh and pending.force_authn:
        login_session = None
    if login_session is None:
        if pending.is_passive:
            return _error_response(pending, STATUS_NO_PASSIVE, "The user must log in.")
        return _login_form(pending)
    return login_session


def _go_on(pending):
    login_session = current_login_session()
    outcome = _session_to_go_on_with(pending, login_session)
    if is_answer(outcome):
        db.session.commit()
        return outcome
    login_session = outcome
    account, sp = login_session.account, pending.sp
    if pending.nameid_format is None:
        return _error_response(pending, STATUS_INVALID_NAMEID_POLICY, "Only persistent and transient NameIDs are given.")
    refusal = relying_party_refusal(account, sp)
    if refusal is not None:
        if pending.is_passive:
            return _error_response(pending, STATUS_REQUEST_DENIED, refusal)
        audit("authorization_refused", account=account, sp=sp.entity_id, reason=refusal)
        db.session.commit()
        if refusal == AccountState.PENDING_EMAIL.value:
            session["after_activation"] = pending.address
            return redirect(url_for("activation.pending"), code=303)
        if refusal in (TELESERVICES_REFUSED, PUPILS_LEFT):
            back = pending.address + "&" + urlencode({"deny": "1"})
            return render_template("oidc/refused.html", reason=refusal, client=sp, back=back), 403
        return render_template("auth/refused.html", reason=refusal, client=sp, account=account), 403
    if not sp.trusted and db.session.get(SamlConsent, (account.id, sp.id)) is None:
        if pending.is_passive:
            return _error_response(pending, STATUS_REQUEST_DENIED, "Consent is required.")
        page = render_template(
            "saml/consent.html",
            sp=sp,
            account=account,
            attributes=list(sp.attributes),
            action=url_for("saml.consent") + "?" + pending.address.partition("?")[2],
        )
        db.session.commit()
        return page
    return _respond(pending, login_session)


@bp.route("/saml/sso", methods=["GET", "POST"])
@csrf.exempt
@accepts_long_queries
def sso():
    try:
        pending = _pending()
    except Refused as refusal:
        return _refused_page(refusal)
    if request.args.get("deny") == "1":
        # « Retour au service » of a refusal page: the service is told no.
        return _error_response(pending, STATUS_REQUEST_DENIED, "Access denied.")
    return _go_on(pending)


@bp.route("/saml/initier", methods=["GET", "POST"])
@csrf.exempt
@accepts_long_queries
def idp_initiated():
    try:
        pending = _idp_initiated()
    except Refused as refusal:
        return _refused_page(refusal)
    return _go_on(pending)


@bp.post("/saml/consentement")
@accepts_long_queries
def consent():
    """The consent form's answer (CSRF-protected)."""
    try:
        pending = _idp_initiated() if "sp" in request.args else _pending()
    except Refused as refusal:
        return _refused_page(refusal)
    login_session = current_login_session()
    if login_session is None:
        return redirect(pending.address, code=303)
    account, sp = login_session.account, pending.sp
    if relying_party_refusal(account, sp) is not None:
        abort(403)
    if request.form.get("decision") != "allow":
        audit("consent_refused", account=account, sp=sp.entity_id)
        return _error_response(pending, STATUS_REQUEST_DENIED, "Consent refused.")
    if db.session.get(SamlConsent, (account.id, sp.id)) is None:
        db.session.add(SamlConsent(account_id=account.id, sp_pk=sp.id))
    audit("consent_given", account=account, sp=sp.entity_id)
    return _respond(pending, login_session)


# --- single logout --------------------------------------------------------------------------


def _logout_request():
    """The LogoutRequest of this request, checked (it must be signed); (sp, server, parsed, binding)."""
    if "SAMLRequest" in request.form:
        binding, value, deflated, sigalg, signature = BINDING_HTTP_POST, request.form["SAMLRequest"], False, None, None
        relay_state = _relay_state(request.form.get("RelayState"))
    else:
        binding, value, deflated = BINDING_HTTP_REDIRECT, request.args["SAMLRequest"], True
        sigalg, signature = request.args.get("SigAlg"), request.args.get("Signature")
        relay_state = _relay_state(request.args.get("RelayState"))
    xml = protocol.decode(value, deflated)
    issuer, _request_id = protocol.peek(xml, "LogoutRequest")
    sp = find_service_provider(issuer)
    if sp is None:
        raise Refused(_("Ce service n'est pas enregistré auprès du fournisseur d'identité."), "unknown_service")
    server, _metadata = protocol.server_for(sp, must_sign=True)
    try:
        parsed = server.parse_logout_request(value, binding, relay_state=relay_state or None, sigalg=sigalg, signature=signature)
    except Exception as error:  # pysaml2's refusals of a message are of many kinds
        log.info("LogoutRequest from %s refused: %s", sp.entity_id, type(error).__name__)
        raise Refused(_("La demande de déconnexion est invalide ou n'est pas signée.")) from None
    if parsed is None or parsed.message.issuer is None or (parsed.message.issuer.text or "").strip() != sp.entity_id:
        raise Refused(_("La demande de déconnexion est invalide."))
    return sp, server, parsed.message, relay_state


def _named_session(sp, message):
    """The live login session the LogoutRequest names (its SessionIndex and NameID), or None."""
    indexes = [index.text for index in message.session_index or [] if index.text]
    name_id = message.name_id.text if message.name_id is not None else None
    query = (
        select(LoginSession)
        .join(SessionSamlSp, SessionSamlSp.login_session_id == LoginSession.id)
        .where(SessionSamlSp.sp_pk == sp.id, SessionSamlSp.name_id == name_id, LoginSession.ended_at.is_(None))
    )
    if indexes:
        query = query.where(LoginSession.sid.in_(indexes))
    return db.session.scalars(query.order_by(LoginSession.id.desc())).first()


@bp.route("/saml/slo", methods=["GET", "POST"])
@csrf.exempt
@accepts_long_queries
def slo():
    """SP-initiated single logout (HTTP-Redirect or HTTP-POST). The LogoutResponses of the
    provider's own LogoutRequests (sent in the frames of the logged-out page) end here too."""
    if "SAMLResponse" in request.values and "SAMLRequest" not in request.values:
        return Response(status=204)
    if "SAMLRequest" not in request.values:
        return _refused_page(Refused(_("Aucune demande de déconnexion SAML n'accompagne cette adresse.")))
    try:
        sp, server, message, relay_state = _logout_request()
    except Refused as refusal:
        return _refused_page(refusal)
    named = _named_session(sp, message)
    uris = []
    if named is not None:
        audit("logout", account=named.account, sp=sp.entity_id, protocol="saml")
        this_browser = current_login_session()
        end_login_session(named, Ending.LOGOUT, sp)
        if this_browser is not None and this_browser.id == named.id:
            uris = front_channel_uris(named, except_client=sp)
    services = protocol.Metadata(sp.metadata_xml).logout_services()
    binding = BINDING_HTTP_REDIRECT if BINDING_HTTP_REDIRECT in services else BINDING_HTTP_POST
    if binding not in services:
        db.session.commit()
        return logged_out_page(uris)
    destination = services[binding][1]
    response = server.create_logout_response(message, [binding], sign=binding == BINDING_HTTP_POST)
    db.session.commit()
    if binding == BINDING_HTTP_POST:
        return _post_page(destination, protocol.post_form(str(response), destination, relay_state)["fields"])
    location = protocol.redirect_url(server, str(response), destination, relay_state, "SAMLResponse")
    if not uris:
        return redirect(location, code=303)
    return logged_out_page(uris, continue_url=location)


@bp.get("/saml/deconnexion-service")
def logout_frame():
    """A frame of the logged-out page: the LogoutRequest to one service provider of the ended
    session, sent by HTTP-Redirect, else by HTTP-POST (a page of the frame that posts it,
    signed inside; idp.accounts.logouts names the frames)."""
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FRAME_SALT)
    try:
        sp_id, name_id, name_id_format, sid = serializer.loads(request.args.get("t", ""), max_age=FRAME_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        abort(404)
    sp = db.session.get(SamlServiceProvider, sp_id)
    destination = (sp.logout_redirect or sp.logout_post) if sp is not None else None
    if destination is None:
        abort(404)
    server, _metadata = protocol.server_for(sp)
    posted = sp.logout_redirect is None
    _request_id, logout_request = server.create_logout_request(
        destination, sp.entity_id, name_id=protocol.name_id(name_id_format, name_id, sp), session_indexes=[sid], sign=posted
    )
    if posted:
        allow_framing_by_self()
        return _post_page(destination, protocol.post_form(str(logout_request), destination, "", "SAMLRequest")["fields"])
    return redirect(protocol.redirect_url(server, str(logout_request), destination, "", "SAMLRequest"), code=303)
