"""The login page, account states, session lifetimes and page security (throttling: test_throttle.py)."""

import logging
import re
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from idp.extensions import db
from idp.models import Account, AccountState

from .conftest import PASSWORD
from .oidc_helpers import csrf_token, query_of
from .travel import frozen


def post_login(client, identifier, password, next_url=None):
    page = client.get("/connexion")
    data = {"identifier": identifier, "password": password, "csrf_token": csrf_token(page.text)}
    if next_url:
        data["next"] = next_url
    return client.post("/connexion", data=data)


def set_account(app, identifier, **values):
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == identifier))
        for name, value in values.items():
            setattr(account, name, value)
        db.session.commit()


def test_login_page_uses_the_guide_words_with_bound_labels(client):
    page = client.get("/connexion").text
    assert re.search(r'<label [^>]*for="identifier"[^>]*>Identifiant<span aria-hidden="true">&nbsp;\*</span></label>', page)
    assert re.search(r'<label [^>]*for="password"[^>]*>Mot de passe<span aria-hidden="true">&nbsp;\*</span></label>', page)
    assert 'id="identifier"' in page and 'id="password"' in page
    assert 'value="Valider"' in page
    assert ">mot de passe oublié</a>" in page
    assert ">identifiant oublié</a>" in page
    assert "<script" not in page


def test_recovery_links_lead_to_their_forms(client):
    login = client.get("/connexion").text
    for path, title in (("/mot-de-passe-oublie", "Mot de passe oublié"), ("/identifiant-oublie", "Identifiant oublié")):
        assert f'href="{path}"' in login
        page = client.get(path)
        assert page.status_code == 200
        assert f"<h1>{title}</h1>" in page.text
        assert 'value="Valider"' in page.text


def test_login_opens_a_session_and_shows_the_account(client, parent):
    response = post_login(client, "jean.dupont1", PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "idp_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/compte/")
    assert "Jean Dupont" in page.text
    assert "Alice Dupont" in page.text


def test_identifier_is_trimmed_and_case_insensitive(client, parent):
    assert post_login(client, "  Jean.Dupont1 ", PASSWORD).status_code == 303


def test_wrong_password_and_unknown_identifier_get_the_same_answer(client, parent, audit_events):
    wrong = post_login(client, "jean.dupont1", "Wrong-pass1")
    unknown = post_login(client, "nobody.here1", "Wrong-pass1")
    assert wrong.status_code == unknown.status_code == 200
    assert "Identifiant ou mot de passe incorrect." in wrong.text
    assert "Identifiant ou mot de passe incorrect." in unknown.text
    events = audit_events("login_failed")
    assert [event.details["known"] for event in events] == [True, False]


def test_empty_fields_are_explained(client):
    page = client.get("/connexion")
    response = client.post("/connexion", data={"csrf_token": csrf_token(page.text)})
    assert "Saisissez votre identifiant." in response.text
    assert "Saisissez votre mot de passe." in response.text
    assert 'aria-invalid="true"' in response.text


def test_form_without_csrf_token_is_refused_with_a_page(client, parent):
    response = client.post("/connexion", data={"identifier": "jean.dupont1", "password": PASSWORD})
    assert response.status_code == 400
    assert "La page a expiré" in response.text
    assert "idp_session" not in response.headers.get("Set-Cookie", "")


def test_pending_account_cannot_log_in_to_the_ent_but_reaches_its_pages(app, ent, parent):
    set_account(app, "jean.dupont1", state=AccountState.PENDING_EMAIL)
    response, _ = ent.authorize()
    stopped = ent.log_in(response, "jean.dupont1", PASSWORD)
    # docs/parents-journey.md, « Activation »: the page of an account waiting for its link, with
    # the address, the reminder of the spam folder, and the ways to resend it or correct the
    # address.
    assert stopped.status_code == 303
    assert urlsplit(stopped.location).path == "/activation-en-attente"
    page = ent.client.get(stopped.location)
    assert page.status_code == 200
    assert "L&#39;Educ de Normandie" in page.text or "L'Educ de Normandie" in page.text
    assert "jean@example.org" in page.text
    assert "courrier indésirable" in page.text
    assert "Renvoyer le courrier électronique" in page.text
    assert "Corriger l&#39;adresse mail" in page.text or "Corriger l'adresse mail" in page.text
    assert ent.client.get("/compte/").status_code == 200


def test_pending_account_with_prompt_none_gets_login_required(app, ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    set_account(app, "jean.dupont1", state=AccountState.PENDING_EMAIL)
    response, _ = ent.authorize(prompt="none")
    assert query_of(response.location)["error"] == "login_required"


def test_expired_and_invalidated_accounts_cannot_log_in(app, client, parent):
    for state, words in ((AccountState.EXPIRED, "délai de 3 mois"), (AccountState.INVALIDATED, "invalidé")):
        set_account(app, "jean.dupont1", state=state)
        response = post_login(client, "jean.dupont1", PASSWORD)
        assert response.status_code == 403
        assert words in response.text
        assert "établissement" in response.text


def test_code_is_refused_if_the_account_stopped_being_active(app, ent, parent):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    set_account(app, "jean.dupont1", state=AccountState.INVALIDATED)
    assert ent.exchange(code).json["error"] == "invalid_grant"


def test_refused_teleservices_block_teleservices_but_not_the_ent(app, ent, make_rp, parent):
    set_account(app, "jean.dupont1", teleservices_refused=True)
    ent.full_login("jean.dupont1", PASSWORD)
    teleservice = make_rp("Paiement en ligne", category="teleservice")
    response, _ = teleservice.authorize()
    assert response.status_code == 403
    assert "coupon" in response.text


def test_session_ends_after_idle_lifetime(app, ent, parent):
    with frozen() as traveller:
        ent.full_login("jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=app.config["SESSION_IDLE_LIFETIME"] - 60))
        assert "code" in query_of(ent.authorize(prompt="none")[0].location)
        traveller.shift(timedelta(seconds=app.config["SESSION_IDLE_LIFETIME"] + 1))
        assert query_of(ent.authorize(prompt="none")[0].location)["error"] == "login_required"


def test_session_ends_after_absolute_lifetime_even_when_used(app, ent, parent):
    with frozen() as traveller:
        ent.full_login("jean.dupont1", PASSWORD)
        step = timedelta(seconds=app.config["SESSION_IDLE_LIFETIME"] // 2)
        elapsed = timedelta(0)
        while elapsed + step < timedelta(seconds=app.config["SESSION_ABSOLUTE_LIFETIME"]):
            traveller.shift(step)
            elapsed += step
            assert "code" in query_of(ent.authorize(prompt="none")[0].location)
        traveller.shift(step)
        assert query_of(ent.authorize(prompt="none")[0].location)["error"] == "login_required"


def test_sessions_are_listed_and_can_be_closed(app, ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    other = ent.client
    ent.new_browser()
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    ids = re.findall(r"/compte/sessions/(\d+)/fin", page.text)
    assert len(ids) == 2
    ent.client.post(f"/compte/sessions/{min(ids, key=int)}/fin", data={"csrf_token": csrf_token(page.text)})
    assert urlsplit(other.get("/compte/").location).path == "/connexion"
    assert ent.client.get("/compte/").status_code == 200


def test_a_session_past_its_idle_lifetime_is_neither_listed_nor_closable(app, ent, parent):
    idle = app.config["SESSION_IDLE_LIFETIME"]
    with frozen() as traveller:
        ent.full_login("jean.dupont1", PASSWORD)
        ent.new_browser()
        traveller.shift(idle - 600)
        ent.full_login("jean.dupont1", PASSWORD)
        page = ent.client.get("/compte/")
        ids = re.findall(r"/compte/sessions/(\d+)/fin", page.text)
        assert len(ids) == 2
        traveller.shift(601)  # the first browser has been idle past the lifetime
        page = ent.client.get("/compte/")
        assert re.findall(r"/compte/sessions/(\d+)/fin", page.text) == [max(ids, key=int)]
        response = ent.client.post(f"/compte/sessions/{min(ids, key=int)}/fin", data={"csrf_token": csrf_token(page.text)})
        assert response.status_code == 404


def test_password_hash_is_upgraded_when_settings_change(settings, make_account, make_app):
    make_account()
    settings["ARGON2_TIME_COST"] = 2
    app = make_app(settings)
    assert post_login(app.test_client(), "jean.dupont1", PASSWORD).status_code == 303
    with app.app_context():
        stored = db.session.scalar(db.select(Account.password_hash).where(Account.identifier == "jean.dupont1"))
    assert ",t=2," in stored


def test_pages_carry_security_headers(ent, client):
    page, _ = ent.authorize()
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self' http://127.0.0.1:8765" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"


def test_secure_deployment_sets_hsts_and_secure_cookies(settings, parent, make_app):
    settings["ISSUER"] = "https://teleservices.example.org"
    app = make_app(settings)
    client = app.test_client()
    response = post_login(client, "jean.dupont1", PASSWORD)
    assert "Secure" in response.headers["Set-Cookie"]
    assert "SameSite=None" in response.headers["Set-Cookie"]
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_unknown_page_is_a_french_page(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Page introuvable" in response.text


def test_protocol_errors_are_json(client):
    response = client.get("/token")
    assert response.status_code == 405
    assert response.json["error"] == "invalid_request"


def test_no_secret_reaches_the_logs(ent, parent, caplog):
    caplog.set_level(logging.DEBUG)
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    ent.refresh(tokens["refresh_token"])
    post_login(ent.client, "jean.dupont1", "Wrong-pass1")
    logged = caplog.text
    for secret in (PASSWORD, "Wrong-pass1", ent.secret, tokens["access_token"], tokens["refresh_token"], tokens["id_token"]):
        assert secret not in logged


def test_language_link_switches_to_english_and_back(client):
    response = client.get("/langue/en?" + urlencode({"next": "/connexion"}))
    assert response.location == "/connexion"
    assert '<html lang="en">' in client.get("/connexion").text
    client.get("/langue/fr")
    assert '<html lang="fr">' in client.get("/connexion").text


def test_logging_in_again_replaces_the_browser_session(app, ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    ent.full_login("jean.dupont1", PASSWORD, prompt="login")
    page = ent.client.get("/compte/")
    assert len(re.findall(r"/compte/sessions/(\d+)/fin", page.text)) == 1


def test_logins_record_the_last_use(app, ent, parent):
    with frozen() as traveller:
        ent.full_login("jean.dupont1", PASSWORD)
        with app.app_context():
            first = db.session.scalar(db.select(Account.last_login_at).where(Account.identifier == "jean.dupont1"))
        traveller.shift(timedelta(hours=2))
        ent.log_in_and_get_code("jean.dupont1", PASSWORD)  # single sign-on: no password typed
        with app.app_context():
            second = db.session.scalar(db.select(Account.last_login_at).where(Account.identifier == "jean.dupont1"))
    assert second - first == timedelta(hours=2)
