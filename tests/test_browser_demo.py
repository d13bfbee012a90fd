"""The parents' guide, part 2, in a real browser: from the demo ENT to our login page and
back, then "Se déconnecter" through RP-initiated logout.

The provider (on the test database) and the demo ENT of examples/ent are each served by
werkzeug on a free port of 127.0.0.1; Playwright drives the system Chromium, which CI
installs (this test never downloads a browser).
"""

import importlib.util
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.relying_parties.registration import register_client

from .conftest import PASSWORD
from .demo_helpers import load_example

pytestmark = pytest.mark.browser

ENT_MODULE = Path(__file__).resolve().parent.parent / "examples" / "ent" / "app.py"
PUBLIC = "Élève ou parent de l'enseignement public"


def load_ent_module():
    """examples/ is not a package: load the demo ENT from its file."""
    spec = importlib.util.spec_from_file_location("demo_ent", ENT_MODULE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Flask finds the ENT's templates through it
    spec.loader.exec_module(module)
    return module


def starting(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@contextmanager
def bound_server():
    """A server listening on a free port before its application exists, which needs the port."""
    server = make_server("127.0.0.1", 0, starting, threaded=True)
    try:
        yield server
    finally:
        server.server_close()


@contextmanager
def serving(server, app):
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def provider_socket():
    with bound_server() as server:
        yield server


@pytest.fixture
def settings(settings, provider_socket):
    """The issuer is the provider's real address: the browser and the ENT both go there."""
    return settings | {"ISSUER": f"http://127.0.0.1:{provider_socket.port}"}


@pytest.fixture
def provider_url(app, provider_socket):
    with serving(provider_socket, app) as url:
        yield url


@pytest.fixture
def ent_url(app, provider_url, tmp_path):
    with bound_server() as server:
        base_url = f"http://127.0.0.1:{server.port}"
        with app.app_context():
            client, secret = register_client(
                "L'Educ de Normandie",
                "ent",
                [f"{base_url}/cb"],
                [f"{base_url}/logout-cb"],
                "client_secret_basic",
                trusted=True,
                backchannel_logout_uri=f"{base_url}/backchannel-logout",
                backchannel_logout_session_required=True,
            )
            db.session.commit()
            client_id = client.client_id
        seed_demo = load_example("seed_demo")

        def directory():
            """The ENT's directory as the seed writes it, from the provider's pupils now."""
            with app.app_context():
                return seed_demo.ent_directory()

        settings = {"ISSUER": provider_url, "CLIENT_ID": client_id, "CLIENT_SECRET": secret, "BASE_URL": base_url}
        ent = load_ent_module().create_app(
            settings | {"SECRET_KEY": "ent-test-key", "LOGOUTS_DB": str(tmp_path / "logouts.sqlite3"), "DIRECTORY": directory}
        )
        with serving(server, ent) as url:
            yield url


def test_parent_logs_in_to_the_ent_then_logs_out(ent_url, provider_url, parent, chromium_page):
    with chromium_page() as page:
        page.goto(ent_url)
        page.get_by_role("link", name="SE CONNECTER").click()
        to_provider = []

        def note(request):
            if request.url.startswith(provider_url):
                to_provider.append((request.method, urlsplit(request.url).path, request.resource_type))

        page.on("request", note)
        page.get_by_role("link", name=PUBLIC).click()

        expect(page).to_have_url(re.compile(re.escape(f"{provider_url}/authorize?")))
        page.get_by_label("Identifiant *", exact=True).fill("jean.dupont1")
        page.get_by_label("Mot de passe *", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Valider").click()

        expect(page).to_have_url(f"{ent_url}/espace")
        # The browser's pages from the provider: the form, then its answer, a redirect to the ENT.
        assert [request[:2] for request in to_provider if request[2] == "document"] == [("GET", "/authorize"), ("POST", "/authorize")]
        expect(page.get_by_role("heading", level=1)).to_have_text("Jean Dupont")
        expect(page.get_by_text("Profil : parent")).to_be_visible()
        # Recognised by FrEduVecteur in the ENT's own directory, not by sub.
        expect(page.get_by_text("Reconnu dans l'annuaire de l'ENT par FrEduVecteur : ent-resp-DEMO100-1")).to_be_visible()
        expect(page.get_by_role("row").filter(has_text="Alice").get_by_role("cell")).to_have_text(["Alice", "Dupont", "", "0140001A"])
        expect(page.get_by_role("link", name="gérer son compte")).to_have_attribute("href", f"{provider_url}/compte/")

        page.get_by_role("button", name="Se déconnecter").click()
        expect(page).to_have_url(re.compile(re.escape(f"{ent_url}/logout-cb?state=")))
        expect(page.get_by_role("heading", name="Vous êtes déconnecté")).to_be_visible()

        # The ENT forgot the person, and so did the provider: its login page, not single sign-on.
        page.goto(f"{ent_url}/espace")
        expect(page).to_have_url(f"{ent_url}/connexion")
        page.get_by_role("link", name=PUBLIC).click()
        expect(page).to_have_url(re.compile(re.escape(f"{provider_url}/authorize?")))
        expect(page.get_by_label("Mot de passe *", exact=True)).to_be_empty()


def test_the_ent_tells_someone_it_does_not_recognise(ent_url, provider_url, pupil_account, chromium_page):
    # A pupil made by hand without an identifier in the school file: no FrEduVecteur the ENT's
    # directory could match, so the ENT does not log them in, whatever their sub.
    with chromium_page() as page:
        page.goto(f"{ent_url}/connexion")
        page.get_by_role("link", name=PUBLIC).click()
        page.get_by_label("Identifiant *", exact=True).fill("alice.martin1")
        page.get_by_label("Mot de passe *", exact=True).fill("Cartable-2024")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("alert")).to_contain_text("ne correspond à aucun élève ni responsable connu de l'ENT")
        page.goto(f"{ent_url}/espace")
        expect(page).to_have_url(f"{ent_url}/connexion")


def test_logging_out_everywhere_on_the_provider_logs_the_ent_out(app, ent_url, provider_url, parent, chromium_page):
    with chromium_page() as page:
        page.goto(f"{ent_url}/connexion")
        page.get_by_role("link", name=PUBLIC).click()
        page.get_by_label("Identifiant *", exact=True).fill("jean.dupont1")
        page.get_by_label("Mot de passe *", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Valider").click()
        expect(page).to_have_url(f"{ent_url}/espace")

        page.get_by_role("link", name="gérer son compte").click()
        expect(page).to_have_url(f"{provider_url}/compte/")
        page.get_by_role("button", name="Se déconnecter partout").click()
        expect(page.get_by_role("heading", name="Vous êtes déconnecté")).to_be_visible()
        wait_for_jobs(app)  # the logout token reached the ENT

        page.goto(f"{ent_url}/espace")
        expect(page).to_have_url(f"{ent_url}/connexion")


def test_the_demo_ent_refuses_a_logout_token_it_cannot_verify(ent_url):
    import requests

    for token in ("", "not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."):
        answer = requests.post(f"{ent_url}/backchannel-logout", data={"logout_token": token}, timeout=10)
        assert answer.status_code == 400 and answer.json() == {"error": "invalid_request"}
