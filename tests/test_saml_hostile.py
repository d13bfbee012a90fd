"""Hostile SAML messages (docs/saml.md, « Hostile XML »): each gets a clear French error page
(or a SAML error response), nobody is logged in, never a 5xx."""

import base64
import re
import zlib
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import LoginSession

from .conftest import PASSWORD
from .saml_helpers import posted_form
from .test_saml_sso import idp_metadata, make_sp  # noqa: F401  (fixtures)


def deflated(xml):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = xml.encode() if isinstance(xml, str) else xml
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode()


def sessions(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginSession))


def refused(page, words):
    assert page.status_code == 400, (page.status_code, page.text[:500])
    assert "Demande de connexion invalide" in page.text
    assert words in page.text.replace("&#39;", "'"), page.text[page.text.find("fr-alert") : page.text.find("fr-alert") + 400]
    assert 'id="saml-post"' not in page.text and 'name="password"' not in page.text


@pytest.fixture
def sp(make_sp):
    return make_sp()


def signed_redirect(sp, relay_state="state", **options):
    destination = sp.sso_location(BINDING_HTTP_REDIRECT)
    _, request = sp.client.create_authn_request(destination, sign=False, **options)
    info = sp.client.apply_binding(
        BINDING_HTTP_REDIRECT, str(request), destination, relay_state=relay_state, sign=True, sigalg=SIG_RSA_SHA256
    )
    parts = urlsplit(dict(info["headers"])["Location"])
    return parts.path, parse_qsl(parts.query)


def signed_post_xml(sp, **options):
    destination = sp.sso_location(BINDING_HTTP_POST)
    _, request = sp.client.create_authn_request(destination, sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **options)
    return str(request)


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_an_unsigned_request_from_a_service_provider_that_signs(sp, app, binding):
    refused(sp.authn_request(binding, sign=False), "signature")
    assert sessions(app) == 0


def test_a_redirect_whose_signed_query_was_changed(sp, client, app):
    path, query = signed_redirect(sp)
    query = [(key, "elsewhere" if key == "RelayState" else value) for key, value in query]
    refused(client.get(f"{path}?{urlencode(query)}"), "signature")


def test_signature_wrapping(sp, client, app):
    """The signed request hidden in an element of a forged one that names another ACS."""
    original = signed_post_xml(sp).split("?>", 1)[-1].strip()
    root_start = original[: original.index(">") + 1]
    forged_start = re.sub(r'ID="[^"]+"', 'ID="id-forged"', root_start)
    forged_start = re.sub(r'AssertionConsumerServiceURL="[^"]+"', 'AssertionConsumerServiceURL="https://sp.example.org/acs2"', forged_start)
    issuer = re.search(r"<ns\d:Issuer[^>]*>[^<]+</ns\d:Issuer>", original).group(0)
    prefix = re.match(r"<(\w+):AuthnRequest", original).group(1)
    forged = f"{forged_start}{issuer}<{prefix}:Extensions>{original}</{prefix}:Extensions></{prefix}:AuthnRequest>"
    page = client.post("/saml/sso", data={"SAMLRequest": base64.b64encode(forged.encode()).decode()})
    refused(page, "invalide")
    assert sessions(app) == 0


def test_a_signature_moved_onto_another_request(sp, client):
    """A forged request carrying the signature of a genuine one."""
    genuine = signed_post_xml(sp)
    forged = re.sub(r'AssertionConsumerServiceURL="[^"]+"', 'AssertionConsumerServiceURL="https://sp.example.org/acs2"', genuine)
    page = client.post("/saml/sso", data={"SAMLRequest": base64.b64encode(forged.encode()).decode()})
    refused(page, "signature")


def test_an_acs_url_not_in_the_metadata(sp, client, app):
    path, query = signed_redirect(sp, assertion_consumer_service_url="https://evil.example.org/acs")
    page = client.get(f"{path}?{urlencode(query)}")
    refused(page, "adresse de retour")
    assert "evil.example.org" not in page.text


def test_an_acs_index_not_in_the_metadata(sp, client):
    path, query = signed_redirect(sp, assertion_consumer_service_index="7")
    refused(client.get(f"{path}?{urlencode(query)}"), "adresse de retour")


def test_a_destination_that_is_not_this_provider(sp, client):
    _, request = sp.client.create_authn_request("https://other-idp.example.org/sso", sign=False)
    info = sp.client.apply_binding(
        BINDING_HTTP_REDIRECT, str(request), "https://other-idp.example.org/sso", relay_state="s", sign=True, sigalg=SIG_RSA_SHA256
    )
    query = urlsplit(dict(info["headers"])["Location"]).query
    refused(client.get(f"/saml/sso?{query}"), "invalide")


def test_a_replayed_request_gets_no_second_assertion(sp, client, parent, app):
    path, query = signed_redirect(sp)
    address = f"{path}?{urlencode(query)}"
    page = sp.log_in(client.get(address), parent.identifier, PASSWORD)
    posted_form(page)
    replay = client.get(address)
    refused(replay, "déjà servi")


def test_a_request_from_an_unknown_service_provider(make_sp, client, idp_metadata):
    from .saml_helpers import ServiceProvider

    stranger = ServiceProvider(client, idp_metadata, entity_id="https://stranger.example.org/metadata")
    refused(stranger.authn_request(), "enregistré")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("!!!not base64!!!", "illisible"),
        (base64.b64encode(b"not deflated at all").decode(), "illisible"),
        (deflated("<html>not SAML</html>"), "type attendu"),
        (deflated("<unclosed"), "document SAML valide"),
        ("A" * 50_000, "trop grande"),
    ],
)
def test_garbage(client, app, value, words):
    refused(client.get("/saml/sso", query_string={"SAMLRequest": value}), words)
    assert sessions(app) == 0


def test_a_compressed_bomb(client, app):
    bomb = deflated(b"<" + b" " * 20_000_000)
    assert len(bomb) < 48 * 1024
    refused(client.get("/saml/sso", query_string={"SAMLRequest": bomb}), "trop grande")


def test_entity_expansion(client, sp):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        'ID="id-1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>&lol2;</saml:Issuer></samlp:AuthnRequest>'
    )
    refused(client.get("/saml/sso", query_string={"SAMLRequest": deflated(laughs)}), "document SAML valide")
    refused(client.post("/saml/sso", data={"SAMLRequest": base64.b64encode(laughs.encode()).decode()}), "document SAML valide")


def test_an_external_entity(client):
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        'ID="id-1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>&x;</saml:Issuer></samlp:AuthnRequest>'
    )
    page = client.get("/saml/sso", query_string={"SAMLRequest": deflated(xxe)})
    refused(page, "document SAML valide")
    assert "root:" not in page.text


def test_an_oversized_query_or_body(client):
    assert client.get("/saml/sso", query_string={"SAMLRequest": "A" * 70_000}).status_code == 414
    assert client.post("/saml/sso", data={"SAMLRequest": "A" * 70_000}).status_code == 413


def test_an_overlong_relay_state(sp, client):
    path, query = signed_redirect(sp, relay_state="r" * 2000)
    refused(client.get(f"{path}?{urlencode(query)}"), "RelayState")


def test_an_old_request(make_sp, client, parent):
    sp = make_sp(sign_requests=False, entity_id="https://unsigned.example.org/metadata", base="https://unsigned.example.org")
    _, request = sp.client.create_authn_request(sp.sso_location(BINDING_HTTP_REDIRECT), sign=False)
    xml = re.sub(r'IssueInstant="[^"]+"', 'IssueInstant="2020-01-01T00:00:00Z"', str(request))
    refused(client.get("/saml/sso", query_string={"SAMLRequest": deflated(xml)}), "expiré")


def test_no_request_at_all(client):
    refused(client.get("/saml/sso"), "Aucune demande")
