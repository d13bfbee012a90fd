"""pysaml2 wiring: the identity provider as pysaml2 sees it, for one service provider at a
time, and the messages it reads and writes.

Every message is decoded here first, within bounds (its encoded size, then what it
inflates to: a compressed bomb stops at MAX_XML_BYTES), and its root is read by defusedxml
to find its issuer; only then does pysaml2 parse it again, against that one service
provider's stored metadata (signatures checked by xmlsec1). Nothing here trusts a URL
from a message: responses go to the locations of the metadata.
"""

import base64
import binascii
import calendar
import hashlib
import threading
import zlib

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from flask import current_app
from flask_babel import gettext as _
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.assertion import Policy
from saml2.attribute_converter import AttributeConverter
from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT
from saml2.config import IdPConfig
from saml2.s_utils import do_ava, factory
from saml2.saml import (
    NAME_FORMAT_BASIC,
    NAME_FORMAT_URI,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
    Attribute,
    AuthnContext,
    AuthnContextClassRef,
    AuthnStatement,
    NameID,
)
from saml2.server import Server
from saml2.sigver import get_pem_wrapped_unwrapped, make_temp, pre_encryption_part
from saml2.time_util import instant
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from ..relying_parties.saml import DEFAULT_NAMES, Metadata
from .keys import signing_files

# What a message may weigh: encoded, then inflated.
MAX_ENCODED_BYTES = 48 * 1024
MAX_XML_BYTES = 64 * 1024
MAX_RELAY_STATE = 1024
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion"
FORMATS = {"persistent": NAMEID_FORMAT_PERSISTENT, "transient": NAMEID_FORMAT_TRANSIENT}
FRIENDLY = {
    name: friendly
    for friendly, name in {
        "givenName": DEFAULT_NAMES["given_name"],
        "sn": DEFAULT_NAMES["family_name"],
        "mail": DEFAULT_NAMES["email"],
    }.items()
}


class Refused(Exception):
    """A message the provider will not act on: `message` is for the person's page (French, or
    its translation), `code` for the audit."""

    def __init__(self, message, code="invalid"):
        super().__init__(code)
        self.message = message
        self.code = code


# --- decoding -----------------------------------------------------------------------------


def decode(value, deflated):
    """The XML of a SAMLRequest or SAMLResponse parameter, within bounds."""
    if not value or len(value) > MAX_ENCODED_BYTES:
        raise Refused(_("La demande de connexion est vide ou trop grande."), "too_large")
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise Refused(_("La demande de connexion est illisible.")) from None
    if deflated:
        inflater = zlib.decompressobj(-15)
        try:
            raw = inflater.decompress(raw, MAX_XML_BYTES + 1)
        except zlib.error:
            raise Refused(_("La demande de connexion est illisible.")) from None
        if len(raw) > MAX_XML_BYTES or inflater.unconsumed_tail:
            raise Refused(_("La demande de connexion est trop grande."), "too_large")
    elif len(raw) > MAX_XML_BYTES:
        raise Refused(_("La demande de connexion est trop grande."), "too_large")
    return raw


def encode_deflated(xml):
    """How a request received by HTTP-POST travels in the addresses of the login page."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def peek(xml, expected):
    """(issuer, ID) of a message whose root must be samlp:`expected`, read by defusedxml."""
    try:
        root = defusedxml.ElementTree.fromstring(xml, forbid_dtd=True)
    except (DefusedXmlException, SyntaxError, ValueError):
        raise Refused(_("La demande de connexion n'est pas un document SAML valide.")) from None
    if root.tag != f"{{{PROTOCOL}}}{expected}":
        raise Refused(_("La demande de connexion n'est pas du type attendu."))
    issuers = root.findall(f"{{{ASSERTION}}}Issuer")
    if len(issuers) != 1 or not (issuers[0].text or "").strip():
        raise Refused(_("La demande ne dit pas de quel service elle vient."))
    return issuers[0].text.strip(), root.get("ID") or ""


# --- the identity provider as pysaml2 sees it -----------------------------------------------


class _Release(Policy):
    """What a service provider receives is its registration's affair (the attributes made by
    idp.saml.views), not the metadata's RequestedAttribute nor pysaml2's entity categories."""

    def restrict(self, ava, sp_entity_id, metadata=None):
        return dict(ava)


class _Attributes(AttributeConverter):
    """Attribute names as registered: URI names with their NameFormat and friendly name, the
    short names of ENT core as basic names; one AttributeValue per value."""

    def __init__(self):
        super().__init__(NAME_FORMAT_URI)

    def to_(self, attrvals):
        attributes = []
        for name, values in attrvals.items():
            uri = name.startswith("urn:")
            attributes.append(
                factory(
                    Attribute,
                    name=name,
                    name_format=NAME_FORMAT_URI if uri else NAME_FORMAT_BASIC,
                    friendly_name=FRIENDLY.get(name),
                    attribute_value=do_ava(values),
                )
            )
        return attributes


# The encryption of assertions: AES-256-CBC for the data (pysaml2's default is triple DES),
# its key encrypted with RSA-OAEP.
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"


class _Server(Server):
    def _encrypt_assertion(self, encrypt_cert, sp_entity_id, response, node_xpath=None):
        """pysaml2's, with AES-256-CBC; the first certificate of the metadata that works."""
        failure = None
        for name, certificate in self.metadata.certs(sp_entity_id, "any", "encryption"):
            wrapped, unwrapped = get_pem_wrapped_unwrapped(certificate)
            temporary = make_temp(wrapped.encode("ascii"), decode=False, delete_tmpfiles=True)
            try:
                template = pre_encryption_part(msg_enc=AES256_CBC, key_name=name, encrypt_cert=unwrapped)
                return self.sec.encrypt_assertion(response, temporary.name, template, key_type="aes-256", node_xpath=node_xpath)
            except Exception as error:  # the next certificate, if any
                failure = error
            finally:
                temporary.close()
        if failure is not None:
            raise failure
        return response


_servers = {}
_servers_lock = threading.Lock()


def endpoints():
    """(SSO, SLO) addresses under the issuer (also outside a request: SOAP logout runs in the
    background)."""
    issuer = current_app.config["ISSUER"]
    return f"{issuer}/saml/sso", f"{issuer}/saml/slo"


def server_for(sp=None, must_sign=None):
    """A pysaml2 Server that knows `sp` only (its stored metadata), signing with the key that
    signs now; `must_sign`: requests must be signed (default: as its metadata says)."""
    key_file, cert_file = signing_files()
    metadata = Metadata(sp.metadata_xml) if sp is not None else None
    if must_sign is None:
        must_sign = metadata.signs_requests() if metadata is not None else False
    config = current_app.config
    sso, slo = endpoints()
    cache_key = (
        key_file,
        config["SAML_ENTITY_ID"],
        sso,
        sp.entity_id if sp is not None else None,
        hashlib.sha256(sp.metadata_xml.encode()).hexdigest() if sp is not None else None,
        must_sign,
        config["SAML_ASSERTION_LIFETIME"],
    )
    with _servers_lock:
        cached = _servers.get(cache_key)
    if cached is not None:
        return cached, metadata
    settings = {
        "entityid": config["SAML_ENTITY_ID"],
        "xmlsec_binary": config["SAML_XMLSEC_BINARY"],
        "key_file": key_file,
        "cert_file": cert_file,
        "metadata": {"inline": [sp.metadata_xml]} if sp is not None else {},
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "accepted_time_diff": 300,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [(sso, BINDING_HTTP_REDIRECT), (sso, BINDING_HTTP_POST)],
                    "single_logout_service": [(slo, BINDING_HTTP_REDIRECT), (slo, BINDING_HTTP_POST)],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
                "want_authn_requests_signed": must_sign,
                "policy": {"default": {"lifetime": {"seconds": config["SAML_ASSERTION_LIFETIME"]}, "name_form": NAME_FORMAT_URI}},
            }
        },
    }
    idp_config = IdPConfig()
    idp_config.load(settings)
    server = _Server(config=idp_config)
    server.config.attribute_converters = [_Attributes()]
    with _servers_lock:
        if len(_servers) > 64:
            _servers.clear()
        _servers[cache_key] = server
    return server, metadata


def authn_statement(login_session):
    moment = calendar.timegm(login_session.created_at.timetuple())
    return AuthnStatement(
        authn_instant=instant(time_stamp=moment),
        session_index=login_session.sid,
        authn_context=AuthnContext(authn_context_class_ref=AuthnContextClassRef(text=PASSWORDPROTECTEDTRANSPORT)),
    )


def name_id(format_name, value, sp):
    return NameID(
        format=FORMATS[format_name], text=value, name_qualifier=current_app.config["SAML_ENTITY_ID"], sp_name_qualifier=sp.entity_id
    )


def authn_response(server, metadata, sp, in_response_to, destination, identity, subject, login_session):
    """The signed Response (XML text) carrying the assertion, encrypted when the service
    provider publishes an encryption certificate."""
    encrypt = bool(metadata.encryption_certificates())
    # pysaml2's create_authn_response drops a ready AuthnStatement (the SessionIndex is the
    # session's sid, not a random one): its inner step takes it.
    response = server._authn_response(
        in_response_to,
        destination,
        sp.entity_id,
        identity=identity,
        name_id=subject,
        policy=_Release(
            {"default": {"lifetime": {"seconds": current_app.config["SAML_ASSERTION_LIFETIME"]}, "name_form": NAME_FORMAT_URI}},
            mds=server.metadata,
        ),
        sign_assertion=True,
        sign_response=True,
        best_effort=True,
        encrypt_assertion=encrypt,
        authn_statement=authn_statement(login_session),
        encrypt_assertion_self_contained=True,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    return str(response)


def post_form(message, destination, relay_state, kind="SAMLResponse"):
    """What the auto-posting page sends: {'action', 'fields'}."""
    fields = {kind: base64.b64encode(message.encode() if isinstance(message, str) else message).decode()}
    if relay_state:
        fields["RelayState"] = relay_state
    return {"action": destination, "fields": fields}


def redirect_url(server, message, destination, relay_state, kind):
    """The HTTP-Redirect binding's signed URL for `message`."""
    info = server.apply_binding(
        BINDING_HTTP_REDIRECT,
        message,
        destination,
        relay_state=relay_state,
        response=kind == "SAMLResponse",
        sign=True,
        sigalg=SIG_RSA_SHA256,
    )
    return dict(info["headers"])["Location"]
