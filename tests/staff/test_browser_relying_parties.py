"""Acceptance of the académie's web registration, in a real browser (system Chromium): an
académie administrator logs in (password + TOTP), registers a relying party, copies the
secret shown once, and an authorization-code login with it succeeds; renewing the secret
with an overlap keeps the former one working until the overlap ends, then it is refused.

The relying party's redirect URI is a small server on 127.0.0.1 that answers every request:
the test reads the code from the browser's address, then exchanges it at /token as the
relying party would, with the secret it copied. Time runs (the server is real) and is moved forward with
time_machine, which the server's thread sees too.
"""

import base64
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest
import time_machine
from playwright.sync_api import expect

from ..conftest import PASSWORD
from ..test_browser_demo import bound_server, provider_socket, provider_url, serving, settings  # noqa: F401
from .conftest import fill_login_in_browser

pytestmark = pytest.mark.browser


def callback_page(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"service"]


@pytest.fixture
def callback():
    """The relying party's redirect URI, served."""
    with bound_server() as server, serving(server, callback_page) as url:
        yield f"{url}/cb"


def token_request(provider_url, callback, client_id, secret, code):
    """The code exchange at /token with client_secret_basic: (status, JSON body)."""
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": callback}).encode()
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(f"{provider_url}/token", data=body, headers={"Authorization": f"Basic {credentials}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def authorization_code(page, provider_url, callback, client_id):
    """A family's way through /authorize (login and consent when asked) to the relying party's
    callback, whose code is returned."""
    state = secrets.token_urlsafe(8)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": callback,
            "scope": "openid profile",
            "state": state,
            "nonce": secrets.token_urlsafe(8),
        }
    )
    page.goto(f"{provider_url}/authorize?{query}")
    if page.get_by_label("Mot de passe *", exact=True).count():
        page.get_by_label("Identifiant *", exact=True).fill("jean.dupont1")
        page.get_by_label("Mot de passe *", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Valider").click()
    if page.url.startswith(provider_url) and page.get_by_role("button", name="Autoriser").count():
        expect(page.get_by_role("heading", level=1)).to_have_text("Cantine en ligne demande l'accès à votre compte")
        expect(page.get_by_text("Contact de ce service : cantine@ville.example")).to_be_visible()
        page.get_by_role("button", name="Autoriser").click()
    expect(page).to_have_url(re.compile(re.escape(callback + "?")))
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))
    assert answer["state"] == state
    return answer["code"]


def test_the_academie_registers_a_service_whose_secret_works_then_renews_it_with_an_overlap(
    administrator, parent, provider_url, callback, chromium_page
):
    with time_machine.travel(datetime.now(UTC), tick=True) as clock, chromium_page() as staff_page, chromium_page() as family:
        staff_page.goto(f"{provider_url}/gestion/connexion")
        fill_login_in_browser(staff_page, administrator)
        staff_page.get_by_role("link", name="Services connectés").first.click()
        staff_page.get_by_role("link", name="Enregistrer un service").click()
        staff_page.get_by_label("Nom du service *", exact=True).fill("Cantine en ligne")
        staff_page.get_by_label("téléservice", exact=True).check()
        staff_page.get_by_label("URI de redirection *", exact=True).fill(callback)
        staff_page.get_by_label("Contact du service", exact=True).fill("cantine@ville.example")
        staff_page.get_by_role("button", name="Enregistrer le service").click()

        expect(staff_page.get_by_role("heading", name="Ce secret n'est affiché qu'une fois")).to_be_visible()
        client_id = staff_page.get_by_label("Identifiant client (client_id)").input_value()
        first_secret = staff_page.get_by_label("Secret (client_secret)").input_value()
        staff_page.get_by_role("link", name="J'ai copié le secret, continuer").click()
        expect(staff_page.get_by_role("heading", level=1)).to_have_text("Cantine en ligne")
        expect(staff_page.get_by_label("Secret (client_secret)")).to_have_count(0)  # shown once

        status, tokens = token_request(
            provider_url, callback, client_id, first_secret, authorization_code(family, provider_url, callback, client_id)
        )
        assert status == 200, tokens
        assert tokens["token_type"] == "Bearer" and tokens["id_token"]

        # A new secret; the former one stays accepted 24 hours (the default overlap).
        staff_page.get_by_role("link", name="Renouveler le secret").click()
        expect(staff_page.get_by_label("dans 24 heures")).to_be_checked()
        staff_page.get_by_role("button", name="Renouveler le secret").click()
        expect(staff_page.get_by_text("L'ancien secret reste accepté jusqu'au")).to_be_visible()
        second_secret = staff_page.get_by_label("Secret (client_secret)").input_value()
        assert second_secret != first_secret

        status, _ = token_request(
            provider_url, callback, client_id, second_secret, authorization_code(family, provider_url, callback, client_id)
        )
        assert status == 200
        clock.shift(24 * 3600 - 120)
        status, _ = token_request(
            provider_url, callback, client_id, first_secret, authorization_code(family, provider_url, callback, client_id)
        )
        assert status == 200
        clock.shift(240)
        code = authorization_code(family, provider_url, callback, client_id)
        status, refused = token_request(provider_url, callback, client_id, first_secret, code)
        assert (status, refused["error"]) == (401, "invalid_client")
        status, _ = token_request(provider_url, callback, client_id, second_secret, code)
        assert status == 200
