"""RP-initiated logout, the provider's own logout, and what a logout ends."""

from urllib.parse import urlsplit

from .conftest import PASSWORD
from .oidc_helpers import csrf_token, query_of

POST_LOGOUT = "http://127.0.0.1:8765/logout-cb"


def test_rp_initiated_logout_returns_to_the_registered_uri_with_state(ent, parent, audit_events):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    response = ent.client.get(
        "/logout", query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": "xyz"}
    )
    assert response.status_code == 302
    assert response.location.startswith(POST_LOGOUT)
    assert query_of(response.location)["state"] == "xyz"
    # The login session is over: a silent authorization now fails.
    response, _ = ent.authorize(prompt="none")
    assert query_of(response.location)["error"] == "login_required"
    assert [event.event for event in audit_events("logout")] == ["logout"]


def test_logout_with_an_unregistered_uri_shows_the_logged_out_page(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    response = ent.client.get(
        "/logout", query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example.org/"}
    )
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.text
    assert ent.authorize(prompt="none")[0].location.count("login_required") == 1


def test_logout_without_hint_asks_for_confirmation(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/logout", query_string={"post_logout_redirect_uri": POST_LOGOUT, "client_id": ent.client_id})
    assert page.status_code == 200
    assert "Se déconnecter ?" in page.text
    # Still logged in until the person confirms.
    assert "code" in query_of(ent.authorize(prompt="none")[0].location)
    confirmed = ent.client.post("/logout", data={"csrf_token": csrf_token(page.text), "confirm": "1", "client_id": ent.client_id})
    assert confirmed.status_code == 200
    assert "Vous êtes déconnecté" in confirmed.text
    assert "login_required" in ent.authorize(prompt="none")[0].location


def test_logout_confirmation_needs_the_csrf_token(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    response = ent.client.post("/logout", data={"confirm": "1"})
    assert "Se déconnecter ?" in response.text
    assert "code" in query_of(ent.authorize(prompt="none")[0].location)


def test_forged_hint_never_redirects(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    forged = tokens["id_token"][:-4] + "AAAA"
    response = ent.client.get("/logout", query_string={"id_token_hint": forged, "post_logout_redirect_uri": POST_LOGOUT})
    assert response.status_code == 200
    assert "Location" not in response.headers


def test_logout_without_session_says_logged_out(client):
    response = client.get("/logout")
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.text


def test_logout_revokes_the_session_tokens_but_not_offline_ones(ent, parent):
    from .test_tokens import userinfo

    online, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile")
    offline, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    ent.client.get("/logout", query_string={"id_token_hint": online["id_token"]})
    assert userinfo(ent, online["access_token"]).status_code == 401
    assert ent.refresh(offline["refresh_token"]).status_code == 200


def test_own_logout_button(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    response = ent.client.post("/deconnexion", data={"csrf_token": csrf_token(page.text)})
    assert "Vous êtes déconnecté" in response.text
    assert urlsplit(ent.client.get("/compte/").location).path == "/connexion"


def test_logout_hint_naming_another_account_asks_for_confirmation(ent, parent, make_account):
    make_account(given_name="Marie", family_name="Curie")
    theirs, _ = ent.full_login("marie.curie1", PASSWORD)
    ent.new_browser()
    ent.full_login("jean.dupont1", PASSWORD)
    params = {"id_token_hint": theirs["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": "xyz"}
    page = ent.client.get("/logout", query_string=params)
    assert page.status_code == 200
    assert "Se déconnecter ?" in page.text
    assert "jean.dupont1" in page.text
    assert "code" in query_of(ent.authorize(prompt="none")[0].location)
    confirmed = ent.client.post("/logout", data={**params, "csrf_token": csrf_token(page.text), "confirm": "1"})
    assert confirmed.status_code == 302
    assert "login_required" in ent.authorize(prompt="none")[0].location
