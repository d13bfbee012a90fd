"""The code flow from a relying party's side: the Basic OP certification behaviours."""

import base64
import html
import re
import time
from urllib.parse import urlencode, urlsplit

import pytest

from idp.extensions import db
from idp.models import Client

from .conftest import ISSUER, PASSWORD
from .oidc_helpers import login_form_action, pkce_pair, query_of

# The code exchange runs on the fast path, then on the ORM path (FAST_PATH off).
pytestmark = pytest.mark.both_paths


def test_happy_path_with_client_secret_basic(ent, parent):
    tokens, claims = ent.full_login("jean.dupont1", PASSWORD)
    assert tokens["token_type"] == "Bearer"
    assert claims["sub"] == parent.sub
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ent.client_id
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["exp"] > claims["iat"]
    assert claims["auth_time"] <= claims["iat"]
    assert claims["name"] == "Jean Dupont"


def test_happy_path_with_client_secret_post(make_rp, parent):
    rp = make_rp(auth_method="client_secret_post")
    _tokens, claims = rp.full_login("jean.dupont1", PASSWORD)
    assert claims["sub"] == parent.sub


def test_client_secret_method_must_be_the_registered_one(make_rp, parent):
    rp = make_rp(auth_method="client_secret_post")
    code, _ = rp.log_in_and_get_code("jean.dupont1", PASSWORD)
    response = rp.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}, "client_secret_basic")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("registered", "used"),
    [
        ("client_secret_basic", "client_secret_post"),
        ("client_secret_basic", "none"),
        ("client_secret_post", "none"),
        ("none", "client_secret_basic"),
        ("none", "client_secret_post"),
    ],
)
def test_only_the_registered_client_authentication_method_is_accepted(make_rp, parent, registered, used):
    rp = make_rp(auth_method=registered)
    verifier, challenge = pkce_pair()
    code, _ = rp.log_in_and_get_code("jean.dupont1", PASSWORD, code_challenge=challenge, code_challenge_method="S256")
    if registered == "none":
        rp.secret = "any-secret"  # a public client has none; presenting one is another method
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier}
    response = rp.token_request(data, used)
    assert response.json["error"] == "invalid_client", response.json
    # The code was not spent by the refused request.
    assert rp.token_request(data).status_code == 200


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_client_using_two_authentication_methods_at_once_is_refused(ent, parent, path):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": ent.redirect_uri, "token": "x"}
    data.update(client_id=ent.client_id, client_secret=ent.secret)
    response = ent.token_request(data) if path == "/token" else ent.client.post(path, data=data, headers=basic_header(ent))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    if path == "/token":
        assert ent.exchange(code).status_code == 200


def basic_header(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def test_wrong_client_secret_is_refused(ent, parent):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    ent.secret = "not-the-secret"
    response = ent.exchange(code)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_token_response_is_not_cached(ent, parent):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    response = ent.exchange(code)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_sub_is_stable_across_logins(ent, parent, app):
    _, first = ent.full_login("jean.dupont1", PASSWORD)
    ent.new_browser()
    _, second = ent.full_login("jean.dupont1", PASSWORD)
    assert first["sub"] == second["sub"] == parent.sub


def test_code_flow_without_nonce_has_no_nonce_claim(ent, parent):
    _tokens, claims = ent.full_login("jean.dupont1", PASSWORD, nonce=None)
    assert "nonce" not in claims


def test_authorization_response_names_the_issuer(ent, parent):
    response, _values = ent.authorize()
    response = ent.log_in(response, "jean.dupont1", PASSWORD)
    assert query_of(response.location)["iss"] == ISSUER


def test_missing_response_type_is_an_error_redirect(ent, parent):
    response, values = ent.authorize(response_type=None)
    assert response.status_code == 302
    params = query_of(response.location)
    assert response.location.startswith(ent.redirect_uri)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == values["state"]
    assert params["iss"] == ISSUER


def test_other_response_types_are_refused(ent):
    response, _ = ent.authorize(response_type="id_token token")
    assert query_of(response.location)["error"] == "unsupported_response_type"


def test_unregistered_redirect_uri_shows_a_page_and_never_redirects(ent):
    response, _ = ent.authorize(redirect_uri="https://evil.example.org/cb")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Demande de connexion invalide" in response.text


def test_redirect_uri_must_match_exactly(ent):
    for variant in (ent.redirect_uri + "/", ent.redirect_uri + "?x=1", ent.redirect_uri.upper()):
        response, _ = ent.authorize(redirect_uri=variant)
        assert response.status_code == 400
        assert "Location" not in response.headers


def test_unknown_client_shows_a_page(ent):
    response, _ = ent.authorize(client_id="nobody")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_missing_redirect_uri_is_refused_when_ambiguous(ent):
    # The test relying parties register two redirect URIs.
    response, _ = ent.authorize(redirect_uri=None)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_missing_redirect_uri_uses_the_only_registered_one(ent, parent, app):
    with app.app_context():
        registered = db.session.scalar(db.select(Client).where(Client.client_id == ent.client_id))
        registered.redirect_uris = [ent.redirect_uri]
        db.session.commit()
    response, _values = ent.authorize(redirect_uri=None)
    response = ent.log_in(response, "jean.dupont1", PASSWORD)
    callback = ent.follow_to_callback(response)
    token = ent.token_request({"grant_type": "authorization_code", "code": callback["code"]})
    assert token.status_code == 200, token.json


def test_unknown_parameters_are_ignored(ent, parent):
    _tokens, claims = ent.full_login("jean.dupont1", PASSWORD, extra="foobar", claims_locales="fr")
    assert claims["sub"] == parent.sub


def test_authorization_request_by_post(ent, parent):
    response, values = ent.authorize(method="POST")
    response = ent.log_in(response, "jean.dupont1", PASSWORD)
    callback = ent.follow_to_callback(response)
    assert callback["state"] == values["state"]
    tokens = ent.exchange(callback["code"]).json
    ent.verify_id_token(tokens["id_token"], nonce=values["nonce"])


def test_scope_without_openid_is_refused(ent):
    response, _ = ent.authorize(scope="profile")
    assert query_of(response.location)["error"] == "invalid_scope"


def test_scopes_not_allowed_to_the_client_are_dropped(make_rp, parent):
    rp = make_rp(scopes=["openid", "profile"])
    tokens, claims = rp.full_login("jean.dupont1", PASSWORD, scope="openid profile email scolarite")
    assert tokens["scope"] == "openid profile"
    assert "email" not in claims


def test_login_page_keeps_the_authorization_request(ent, parent):
    page, values = ent.authorize()
    action = login_form_action(page)
    assert urlsplit(action).path == "/authorize"
    assert query_of(action) == values
    # The recovery links carry the request too, to come back to it.
    for link in re.findall(r'href="(/(?:mot-de-passe|identifiant)-oublie\?[^"]+)"', page.text):
        assert query_of(query_of(html.unescape(link))["next"]) == values


def test_a_login_is_two_requests_to_the_provider_then_the_token_request(ent, parent, monkeypatch):
    """From the relying party's redirect to the code: the form, then its answer; then the
    relying party's token request."""
    requests, send = [], ent.client.open

    def counted(*args, **kwargs):
        response = send(*args, **kwargs)
        requests.append(response.request.path)
        return response

    monkeypatch.setattr(ent.client, "open", counted)
    page, values = ent.authorize()
    answer = ent.log_in(page, "jean.dupont1", PASSWORD)
    assert answer.status_code == 302 and answer.location.startswith(ent.redirect_uri + "?")
    callback = query_of(answer.location)
    assert callback["state"] == values["state"] and callback["iss"] == ISSUER
    tokens = ent.exchange(callback["code"])
    assert tokens.status_code == 200 and "id_token" in tokens.json
    assert requests == ["/authorize", "/authorize", "/token"]


def test_an_authorization_request_made_by_post_gets_the_form_and_its_code(ent, parent):
    page, values = ent.authorize(method="POST")
    assert query_of(login_form_action(page)) == values
    callback = query_of(ent.log_in(page, "jean.dupont1", PASSWORD).location)
    assert callback["state"] == values["state"] and "code" in callback


def test_the_login_answer_needs_its_csrf_token_and_logs_nobody_in(ent, parent):
    page, _ = ent.authorize()
    answer = ent.client.post(login_form_action(page), data={"identifier": "jean.dupont1", "password": PASSWORD})
    assert answer.status_code == 200 and "Location" not in answer.headers
    assert 'name="password"' in answer.text
    assert "idp_session=" not in answer.headers.get("Set-Cookie", "")


def test_a_wrong_password_at_the_authorization_endpoint_shows_the_form_again(ent, parent):
    page, values = ent.authorize()
    answer = ent.log_in(page, "jean.dupont1", "Wrong-pass1")
    assert answer.status_code == 200
    assert "Identifiant ou mot de passe incorrect." in answer.text
    assert query_of(login_form_action(answer)) == values
    assert "Wrong-pass1" not in answer.text
    callback = query_of(ent.log_in(answer, "jean.dupont1", PASSWORD).location)
    assert callback["state"] == values["state"] and "code" in callback


def test_login_next_never_leaves_the_site(client, parent):
    from .oidc_helpers import csrf_token

    page = client.get("/connexion?" + urlencode({"next": "//evil.example.org/"}))
    response = client.post(
        "/connexion",
        data={"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(page.text), "next": "https://evil.example.org/"},
    )
    assert response.status_code == 303
    assert response.location == "/compte/"
