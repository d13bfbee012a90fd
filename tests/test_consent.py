"""Consent for relying parties not marked trusted: asked once, remembered, revocable."""

from .conftest import PASSWORD
from .oidc_helpers import asks_to_log_in, csrf_token, query_of


def consent_page(rp, **params):
    response, values = rp.authorize(**params)
    if asks_to_log_in(response):
        response = rp.log_in(response, "jean.dupont1", PASSWORD)  # answered with the consent page
    return response, values


def answer(rp, page, decision):
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    return rp.client.post(action, data={"csrf_token": csrf_token(page.text), "decision": decision})


def test_untrusted_relying_party_asks_for_consent_then_remembers(make_rp, parent, audit_events):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    page, values = consent_page(rp, scope="openid profile email")
    assert page.status_code == 200
    assert "Cantine en ligne" in page.text
    assert "Autoriser" in page.text and "Refuser" in page.text
    # The consent form carries the authorization request, not the login form's fields.
    action = page.text.split('action="', 1)[1].split('"', 1)[0]
    assert "password" not in action and "identifier" not in action and "csrf_token" not in action
    response = answer(rp, page, "allow")
    callback = query_of(response.location)
    assert callback["state"] == values["state"]
    assert rp.exchange(callback["code"]).status_code == 200
    # Remembered for these scopes: the next request goes straight through.
    response, _ = rp.authorize(scope="openid profile")
    assert "code" in query_of(response.location)
    assert len(audit_events("consent_given")) == 1


def test_refusing_consent_returns_access_denied(make_rp, parent):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    page, values = consent_page(rp)
    response = answer(rp, page, "deny")
    params = query_of(response.location)
    assert params["error"] == "access_denied"
    assert params["state"] == values["state"]
    assert params["iss"] == "http://localhost"


def test_new_scope_asks_again(make_rp, parent):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    page, _ = consent_page(rp, scope="openid")
    answer(rp, page, "allow")
    page, _ = consent_page(rp, scope="openid email")
    assert "Autoriser" in page.text


def test_prompt_none_without_consent_answers_consent_required(make_rp, ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    response, _ = rp.authorize(prompt="none")
    assert query_of(response.location)["error"] == "consent_required"


def test_prompt_consent_asks_even_a_trusted_party(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page, _ = consent_page(ent, prompt="consent")
    assert "Autoriser" in page.text


def test_consent_answer_needs_the_csrf_token(make_rp, parent):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    page, _ = consent_page(rp)
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = rp.client.post(action, data={"decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_consent_can_be_revoked_from_the_account_page(make_rp, parent):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    page, _ = consent_page(rp)
    answer(rp, page, "allow")
    account_page = rp.client.get("/compte/")
    assert "Cantine en ligne" in account_page.text
    response = rp.client.post(f"/compte/services/{rp.client_id}/retrait", data={"csrf_token": csrf_token(account_page.text)})
    assert response.status_code == 302
    page, _ = consent_page(rp)
    assert "Autoriser" in page.text
