"""prompt, max_age, id_token_hint, login_hint, ui_locales and single sign-on."""

from datetime import UTC, timedelta
from urllib.parse import urlencode

from .conftest import ISSUER, PASSWORD
from .oidc_helpers import asks_to_log_in, query_of
from .test_login import post_login
from .travel import frozen, moment


def test_prompt_none_without_session_answers_login_required(ent, parent):
    response, values = ent.authorize(prompt="none")
    assert response.status_code == 302
    params = query_of(response.location)
    assert response.location.startswith(ent.redirect_uri)
    assert params["error"] == "login_required"
    assert params["state"] == values["state"]
    assert params["iss"] == ISSUER


def test_prompt_none_with_session_returns_a_code_without_a_page(ent, parent):
    _, first = ent.full_login("jean.dupont1", PASSWORD)
    response, values = ent.authorize(prompt="none")
    params = query_of(response.location)
    assert "code" in params
    tokens = ent.exchange(params["code"]).json
    claims = ent.verify_id_token(tokens["id_token"], nonce=values["nonce"])
    assert claims["sub"] == first["sub"]
    assert claims["auth_time"] == first["auth_time"]


def test_single_sign_on_across_relying_parties(ent, make_rp, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    other = make_rp("Téléservice", category="teleservice")
    response, _ = other.authorize()
    assert "code" in query_of(response.location)


def test_prompt_login_asks_for_the_password_again(ent, parent):
    with frozen() as traveller:
        _, first = ent.full_login("jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=30))
        response, values = ent.authorize(prompt="login")
        assert asks_to_log_in(response)
        callback = ent.follow_to_callback(ent.log_in(response, "jean.dupont1", PASSWORD))
        claims = ent.verify_id_token(ent.exchange(callback["code"]).json["id_token"], nonce=values["nonce"])
    assert claims["auth_time"] == first["auth_time"] + 30


def test_prompt_none_with_login_is_invalid(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(prompt="none login")
    assert query_of(response.location)["error"] == "invalid_request"


def test_max_age_forces_a_new_login_when_exceeded(ent, parent):
    with frozen() as traveller:
        _, first = ent.full_login("jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=2))
        response, values = ent.authorize(max_age="1")
        assert asks_to_log_in(response)
        callback = ent.follow_to_callback(ent.log_in(response, "jean.dupont1", PASSWORD))
        claims = ent.verify_id_token(ent.exchange(callback["code"]).json["id_token"], nonce=values["nonce"])
    assert claims["auth_time"] >= first["auth_time"] + 2


def test_max_age_not_exceeded_keeps_the_session(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(max_age="3600")
    assert "code" in query_of(response.location)


def test_max_age_with_prompt_none_answers_login_required(ent, parent):
    with frozen() as traveller:
        ent.full_login("jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=5))
        response, _ = ent.authorize(max_age="1", prompt="none")
    assert query_of(response.location)["error"] == "login_required"


def test_id_token_hint_of_the_logged_in_person_gives_a_code(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(prompt="none", id_token_hint=tokens["id_token"])
    assert "code" in query_of(response.location)


def test_id_token_hint_of_someone_else_with_prompt_none_answers_login_required(ent, parent, make_account):
    make_account(given_name="Marie", family_name="Curie")
    tokens, _ = ent.full_login("marie.curie1", PASSWORD)
    ent.new_browser()
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(prompt="none", id_token_hint=tokens["id_token"])
    assert query_of(response.location)["error"] == "login_required"


def test_id_token_hint_of_someone_else_asks_to_log_in_as_them(ent, parent, make_account):
    make_account(given_name="Marie", family_name="Curie")
    tokens, _ = ent.full_login("marie.curie1", PASSWORD)
    ent.new_browser()
    ent.full_login("jean.dupont1", PASSWORD)
    response, values = ent.authorize(id_token_hint=tokens["id_token"])
    assert asks_to_log_in(response)
    callback = ent.follow_to_callback(ent.log_in(response, "marie.curie1", PASSWORD))
    claims = ent.verify_id_token(ent.exchange(callback["code"]).json["id_token"], nonce=values["nonce"])
    assert claims["sub"] != parent.sub


def test_forged_id_token_hint_is_refused(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    header, payload, signature = tokens["id_token"].split(".")
    forged = ".".join([header, payload, signature[::-1]])
    response, values = ent.authorize(prompt="none", id_token_hint=forged)
    params = query_of(response.location)
    assert params["error"] == "invalid_request"
    assert params["state"] == values["state"]


def test_login_hint_prefills_the_identifier(ent, parent):
    page, _ = ent.authorize(login_hint="jean.dupont1")
    assert asks_to_log_in(page)
    assert 'value="jean.dupont1"' in page.text


def test_ui_locales_selects_english(ent, parent):
    page, _ = ent.authorize(ui_locales="en-GB fr")
    assert '<html lang="en">' in page.text
    assert "Password" in page.text


def test_ui_locales_unknown_falls_back_to_french(ent, parent):
    page, values = ent.authorize(ui_locales="de")
    assert asks_to_log_in(page)
    page = ent.client.get("/authorize?" + urlencode(values), headers={"Accept-Language": "de"})
    assert '<html lang="fr">' in page.text
    assert "Mot de passe" in page.text


def test_prompt_login_right_after_a_plain_login_still_asks_for_the_password(ent, parent):
    start = moment()
    with frozen(start) as traveller:
        assert post_login(ent.client, "jean.dupont1", PASSWORD).status_code == 303
        traveller.shift(timedelta(seconds=20))
        response, values = ent.authorize(prompt="login")
        assert asks_to_log_in(response)
        traveller.shift(timedelta(seconds=10))
        callback = ent.follow_to_callback(ent.log_in(response, "jean.dupont1", PASSWORD))
        claims = ent.verify_id_token(ent.exchange(callback["code"]).json["id_token"], nonce=values["nonce"])
    assert claims["auth_time"] == int((start + timedelta(seconds=30)).replace(tzinfo=UTC).timestamp())


def test_max_age_right_after_a_plain_login_still_applies(ent, parent):
    with frozen() as traveller:
        post_login(ent.client, "jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=5))
        response, _ = ent.authorize(max_age="2")
        assert asks_to_log_in(response)
        response, _ = ent.authorize(max_age="2", prompt="none")
        assert query_of(response.location)["error"] == "login_required"


def test_a_login_made_for_one_authorization_request_does_not_serve_another(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    first = ent.authorize_params(prompt="login")
    # Through the login page's own URL (the recovery pages' « Retour à la connexion »).
    assert post_login(ent.client, "jean.dupont1", PASSWORD, "/authorize?" + urlencode(first)).status_code == 303
    second, _ = ent.authorize(prompt="login")
    assert asks_to_log_in(second)


def test_the_login_made_for_a_request_serves_it_once(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    request = "/authorize?" + urlencode(ent.authorize_params(prompt="login", nonce=None))
    back = post_login(ent.client, "jean.dupont1", PASSWORD, request).location
    assert back == request
    assert "code" in query_of(ent.client.get(back).location)
    # The same request replayed (a reload) asks for the password again.
    assert asks_to_log_in(ent.client.get(back))


def test_the_login_form_answered_at_the_authorization_endpoint_serves_that_request_only(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page, _ = ent.authorize(prompt="login")
    assert "code" in query_of(ent.log_in(page, "jean.dupont1", PASSWORD).location)
    again, _ = ent.authorize(prompt="login")
    assert asks_to_log_in(again)
