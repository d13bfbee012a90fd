"""Bad input is refused with a 400 (JSON on protocol endpoints, the French page elsewhere),
never a 500; unexpected errors give a plain page; missing things are a 404."""

import base64
import html
import re
from urllib.parse import urlencode

import pytest

from idp.extensions import db
from idp.models import AuditEvent, LoginSession

from .conftest import PASSWORD
from .oidc_helpers import asks_to_log_in, csrf_token, query_of
from .test_login import post_login

BACK_CHANNEL = ("/token", "/revoke", "/introspect")


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def assert_invalid_request(response):
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.json["error"] == "invalid_request"


def assert_refusal_page(response, words="Demande refusée"):
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.mimetype == "text/html"
    assert words in response.text


# --- NUL bytes and control characters ------------------------------------------------------


def test_nul_byte_in_the_login_form_is_refused_and_changes_nothing(client, parent, audit_events):
    page = client.get("/connexion")
    response = client.post("/connexion", data={"identifier": "jean\x00.dupont1", "password": PASSWORD, "csrf_token": csrf_token(page.text)})
    assert_refusal_page(response)
    assert "idp_session" not in response.headers.get("Set-Cookie", "")
    assert audit_events() == []


def test_nul_byte_in_the_login_page_next_is_refused(client, parent):
    assert_refusal_page(post_login(client, "jean.dupont1", PASSWORD, next_url="/authorize?client_id=\x00"))


def test_login_page_survives_a_next_naming_an_impossible_client(client, parent):
    # The login page looks the relying party of its `next` up; %00 decodes to NUL there.
    page = client.get("/connexion", query_string={"next": "/authorize?client_id=%00&redirect_uri=x"})
    assert page.status_code == 200
    response = post_login(client, "jean.dupont1", PASSWORD, next_url="/authorize?client_id=%00")
    assert response.status_code == 303


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_nul_byte_in_a_back_channel_parameter_is_invalid_request(ent, path):
    for data in ({"client_id": "a\x00b", "token": "x", "grant_type": "authorization_code"}, {"token": "x\x00", "code": "c\x00"}):
        assert_invalid_request(ent.client.post(path, data=data, headers=basic(ent.client_id, ent.secret)))


def test_nul_byte_in_authorization_requests_is_refused(ent, parent):
    response, _ = ent.authorize(client_id="a\x00b")
    assert_refusal_page(response)
    response, _ = ent.authorize(method="POST", state="s\x00")
    assert_refusal_page(response)
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(nonce="\x00")
    assert_refusal_page(response)


def test_nul_byte_in_the_consent_form_is_refused(make_rp, parent):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    response, _ = rp.authorize()
    page = rp.log_in(response, "jean.dupont1", PASSWORD)
    assert "Autoriser" in page.text
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = rp.client.post(action + "&client_id=%00", data={"csrf_token": csrf_token(page.text), "decision": "allow"})
    assert_refusal_page(response)
    response = rp.client.post(action + "&client_id=%C3%A9", data={"csrf_token": csrf_token(page.text), "decision": "allow"})
    assert_refusal_page(response, "Demande de connexion invalide")
    response = rp.client.post(action, data={"csrf_token": csrf_token(page.text), "decision": "allow\x00"})
    assert_refusal_page(response)


def test_nul_byte_in_a_logout_request_is_refused(ent, parent):
    assert_refusal_page(ent.client.get("/logout", query_string={"client_id": "\x00"}))
    assert_refusal_page(ent.client.get("/logout", query_string={"state": "\x00"}))


def test_nul_byte_in_an_address_is_refused(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    response = ent.client.post("/compte/services/a%00b/retrait", data={"csrf_token": csrf_token(page.text)})
    assert_refusal_page(response)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("redirect_uri", "https://rp.example.org/cb\x01"),
        ("redirect_uri", 'https://rp.example.org/cb"'),
        ("redirect_uri", "https://rp.example.org/cb\\"),
        ("redirect_uri", "https://rp.example.org/é"),
        ("response_type", "codé"),
        ("response_type", 'code"'),
        ("response_type", "code\x7f"),
    ],
)
def test_characters_authlib_cannot_quote_in_an_error_are_refused(ent, name, value):
    response, _ = ent.authorize(**{name: value})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_user_agent_with_control_characters_is_refused(client, parent):
    page = client.get("/connexion")
    data = {"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    assert client.post("/connexion", data=data, headers={"User-Agent": "Mozilla\x00"}).status_code == 400


# --- client credentials ----------------------------------------------------------------


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_basic_credentials_that_are_not_utf8_or_not_base64_are_invalid_request(client, path):
    for header in (
        "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
        "Basic " + base64.b64encode(b"client%00:secret").decode(),
        "Basic ¤¤¤",
        "Basic ",
        "Bearer ",
    ):
        assert_invalid_request(client.post(path, data={"token": "x", "grant_type": "refresh_token"}, headers={"Authorization": header}))


# --- shapes of the authorization request --------------------------------------------------


@pytest.mark.parametrize("max_age", ["²", "٣", "9" * 30, "-1", "1.5", "1e3", " 1"])
def test_max_age_must_be_a_small_integer(ent, parent, max_age):
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(max_age=max_age)
    assert_refusal_page(response, "Demande de connexion invalide")
    assert "max_age" in response.text


def test_nonce_longer_than_255_characters_is_refused(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(nonce="n" * 256)
    assert_refusal_page(response, "Demande de connexion invalide")
    response, values = ent.authorize(nonce="n" * 255)
    code = query_of(response.location)["code"]
    ent.verify_id_token(ent.exchange(code).json["id_token"], nonce=values["nonce"])


# --- sizes ----------------------------------------------------------------------------------


def test_query_string_over_4_kib_is_refused_and_never_echoed(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(state="s" * 1_000_000)
    assert response.status_code == 414
    assert "Location" not in response.headers
    assert "s" * 5000 not in response.text


def test_authorization_request_posted_larger_than_an_address_allows_is_refused(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(method="POST", state="s" * 5000)
    assert response.status_code == 400
    assert "Location" not in response.headers
    response, _ = ent.authorize(method="POST", state="s" * 1000)
    assert "code" in query_of(response.location)


def test_body_over_64_kib_is_refused(ent, client):
    response = ent.client.post("/token", data={"grant_type": "x" * 70_000}, headers=basic(ent.client_id, ent.secret))
    assert response.status_code == 413
    assert response.json["error"] == "invalid_request"
    page = client.get("/connexion")
    response = client.post("/connexion", data={"identifier": "x" * 70_000, "password": "x", "csrf_token": csrf_token(page.text)})
    assert response.status_code == 413
    assert "Demande refusée" in response.text


# --- addresses --------------------------------------------------------------------------------


def test_forwarded_address_that_is_not_an_ip_address_is_refused(settings, make_app, make_account):
    settings["PROXY_COUNT"] = 1
    app = make_app(settings)
    client = app.test_client()
    make_account()
    page = client.get("/connexion")
    data = {"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    for forwarded in ("x" * 100, "2001:db8::1%" + "e" * 60, "not an address"):
        response = client.post("/connexion", data=data, headers={"X-Forwarded-For": forwarded})
        assert_refusal_page(response)
    response = client.post("/connexion", data=data, headers={"X-Forwarded-For": "2001:db8::1"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(LoginSession.ip)) == "2001:db8::1"


# --- account page ------------------------------------------------------------------------------


def test_closing_a_session_number_out_of_range_is_not_found(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    for number in ("2147483648", "9" * 30):
        assert ent.client.post(f"/compte/sessions/{number}/fin", data={"csrf_token": csrf_token(page.text)}).status_code == 404


def test_closing_another_persons_session_is_not_found_and_changes_nothing(app, ent, parent, make_account):
    make_account(given_name="Marie", family_name="Curie")
    ent.full_login("marie.curie1", PASSWORD)
    with app.app_context():
        theirs = db.session.scalar(db.select(LoginSession.id))
    other = ent.client
    ent.new_browser()
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    assert ent.client.post(f"/compte/sessions/{theirs}/fin", data={"csrf_token": csrf_token(page.text)}).status_code == 404
    assert other.get("/compte/").status_code == 200


def test_withdrawing_a_consent_that_does_not_exist_is_not_found(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    response = ent.client.post(f"/compte/services/{ent.client_id}/retrait", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 404
    assert "Page introuvable" in response.text


# --- unexpected errors ------------------------------------------------------------------------


def test_unexpected_error_gives_the_french_page_and_keeps_nothing(settings, make_app):
    app = make_app(settings)

    @app.get("/panne")
    def broken():
        db.session.add(AuditEvent(event="half_done", details={}))
        db.session.flush()
        raise RuntimeError("secret internals")

    response = app.test_client().get("/panne")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "Le service rencontre un problème" in response.text
    assert "Traceback" not in response.text and "secret internals" not in response.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == 0


def test_unexpected_error_on_a_protocol_endpoint_is_json(ent, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("idp.oidc.views.authorization_server", broken)
    response = ent.client.post("/token", data={"grant_type": "authorization_code"})
    assert response.status_code == 500
    assert response.json == {"error": "server_error"}


def test_an_accepted_authorization_request_always_fits_the_login_page(ent, parent):
    # Characters that percent-encoding doubles, twice: the request itself is under 4 KiB.
    response, values = ent.authorize(state="&=%/" * 300)
    assert len(urlencode(values)) < 4096
    assert response.status_code == 400
    for size in (50, 120):
        ent.new_browser()
        page, _ = ent.authorize(state="&=%/" * size)
        assert asks_to_log_in(page)
        # Its recovery links carry the request encoded once more: they fit the bound too.
        link = html.unescape(re.search(r'href="(/mot-de-passe-oublie\?[^"]+)"', page.text).group(1))
        assert ent.client.get(link).status_code == 200
        # The form's answer adds its own fields to the request: they never count.
        assert "code" in query_of(ent.log_in(page, "jean.dupont1", PASSWORD).location)
