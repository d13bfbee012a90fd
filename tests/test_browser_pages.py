"""The pages in a real browser, in the State design system: every static file they ask for
is served, none carries a script, and axe-core finds no violation on the home, login,
consent, « gérer son compte » (with its password, email and confirmation pages), logged-out,
refusal and error pages.

axe-core comes from the axe-playwright-python package (its bundled axe.min.js), so the test
works offline; the browser is the system Chromium, as in test_browser_demo.
"""

import re
from urllib.parse import urlencode, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from idp.extensions import db
from idp.models import Account, AccountState, Client, Consent

from .conftest import PASSWORD
from .test_browser_demo import provider_socket, provider_url, settings  # noqa: F401

pytestmark = pytest.mark.browser


class Browser:
    """One Chromium page that remembers every failed request and checks each page it shows."""

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        self.failed = []
        self.interrupted = set()
        self.axe = Axe()
        page.on("response", self._note)
        page.on("requestfailed", self._note_failure)

    def _note(self, response):
        # Error pages answer 4xx on purpose; what they ask for must still be there.
        if response.status >= 400 and response.request.resource_type != "document":
            self.failed.append(f"{response.url} ({response.status})")

    def _note_failure(self, request):
        if request.failure == "net::ERR_ABORTED":
            # The next page was asked for before this file came: it says nothing of the
            # file, which `missing` asks for again.
            self.interrupted.add(request.url)
        else:
            self.failed.append(f"{request.url} ({request.failure})")

    @property
    def missing(self):
        """The files the pages asked for and did not get; an interrupted one is asked for again."""
        again = [f"{url} ({status})" for url in sorted(self.interrupted) if (status := self.page.request.get(url).status) != 200]
        return self.failed + again

    def check(self, what):
        """axe-core on the page as shown, and no script of ours in it."""
        assert self.page.locator("script").count() == 0, f"{what}: the page carries a script"
        violations = self.axe.run(self.page).response["violations"]
        report = [f"{item['id']} ({item['impact']}): {item['help']} at {[node['target'] for node in item['nodes']]}" for item in violations]
        assert not report, f"{what}: axe-core violations:\n  " + "\n  ".join(report)


def log_in(page, identifier, password):
    page.get_by_label("Identifiant *", exact=True).fill(identifier)
    page.get_by_label("Mot de passe *", exact=True).fill(password)
    page.get_by_role("button", name="Valider").click()


def test_pages_pass_axe_and_find_every_static_file(app, provider_url, make_rp, make_account, parent, chromium_page):
    canteen = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    make_account("parent", "Marie", "Martin", email="marie@example.org")
    with app.app_context():
        db.session.scalar(db.select(Account).where(Account.identifier == "marie.martin1")).state = AccountState.INVALIDATED
        db.session.commit()

    with chromium_page(width=1280) as page:
        browser = Browser(page, provider_url)
        page.goto(f"{provider_url}/authorize?" + urlencode(canteen.authorize_params(scope="openid profile email")))
        expect(page.get_by_text("Connectez-vous pour accéder à Cantine en ligne.")).to_be_visible()
        browser.check("login page")
        page.get_by_role("link", name="mot de passe oublié").click()
        browser.check("forgotten password page")
        page.go_back()

        log_in(page, "jean.dupont1", "Wrong-pass1")
        expect(page.get_by_text("Identifiant ou mot de passe incorrect.")).to_be_visible()
        browser.check("login page with an error")

        log_in(page, "jean.dupont1", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Cantine en ligne demande l'accès à votre compte")
        browser.check("consent page")
        allow = page.get_by_role("button", name="Autoriser").bounding_box()
        deny = page.get_by_role("button", name="Refuser").bounding_box()
        gap = max(deny["x"] - (allow["x"] + allow["width"]), deny["y"] - (allow["y"] + allow["height"]))
        assert gap >= 16, f"the consent buttons are {gap}px apart"

        page.goto(f"{provider_url}/compte/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Gérer son compte")
        expect(page.get_by_text("Chrome sur Linux", exact=True)).to_be_visible()
        browser.check("account page")

        page.goto(f"{provider_url}/logout")
        expect(page.get_by_role("heading", level=1)).to_have_text("Se déconnecter ?")
        browser.check("logout confirmation page")
        page.get_by_role("link", name="Rester connecté").click()

        page.get_by_role("button", name="Se déconnecter", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Vous êtes déconnecté")
        browser.check("logged-out page")

        page.goto(f"{provider_url}/connexion")
        log_in(page, "marie.martin1", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Connexion impossible")
        browser.check("refusal page")

        page.goto(f"{provider_url}/authorize?" + urlencode({"client_id": "inconnu", "response_type": "code"}))
        expect(page.get_by_role("heading", level=1)).to_have_text("Demande de connexion invalide")
        browser.check("invalid authorization request page")

        page.goto(f"{provider_url}/nulle-part")
        expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
        browser.check("not-found page")

        for link in ("Mentions légales", "Accessibilité : partiellement conforme", "Contact"):
            page.get_by_role("link", name=link, exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            browser.check(link)

        assert not browser.missing, browser.missing


def test_small_screens_keep_the_language_link_and_an_english_browser_stays_french(provider_url, chromium_page):
    with chromium_page(locale="en-US", width=375) as page:
        browser = Browser(page, provider_url)
        page.goto(f"{provider_url}/connexion")
        expect(page.get_by_role("button", name="Valider")).to_be_visible()
        browser.check("login page on a small screen")

        page.get_by_role("link", name="English", exact=True).click()
        assert urlsplit(page.url).path == "/connexion"
        expect(page.get_by_role("button", name="Submit")).to_be_visible()
        expect(page.get_by_role("link", name="Français", exact=True)).to_be_visible()
        browser.check("login page in English")
        assert not browser.missing, browser.missing


def test_home_and_self_service_pages_pass_axe(app, provider_url, make_rp, parent, smtp_server, chromium_page):
    canteen = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == canteen.client_id))
        db.session.add(Consent(account_id=parent.id, client_pk=client.id, scopes="openid profile"))
        db.session.commit()

    with chromium_page(width=1280) as page:
        browser = Browser(page, provider_url)
        page.goto(f"{provider_url}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Téléservices de l'académie de Normandie")
        browser.check("home page")
        log_in(page, "jean.dupont1", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Gérer son compte")
        expect(page.get_by_text("Cantine en ligne", exact=True)).to_be_visible()
        browser.check("account page with a service")

        page.goto(f"{provider_url}/")
        expect(page.get_by_role("link", name="Gérer son compte")).to_be_visible()
        browser.check("home page, logged in")
        page.get_by_role("link", name="Gérer son compte").click()

        page.get_by_role("link", name="Changer de mot de passe").click()
        page.get_by_label("mot de passe actuel").fill("Wrong-pass1")
        page.get_by_label("nouveau mot de passe").fill("court1")
        page.get_by_label("confirmation du mot de passe").fill("court1")
        page.get_by_role("button", name="Changer le mot de passe").click()
        expect(page.get_by_text("Le mot de passe actuel est incorrect.")).to_be_visible()
        browser.check("password page with errors")
        page.get_by_label("mot de passe actuel").fill(PASSWORD)
        page.get_by_label("nouveau mot de passe").fill("N0uveau-secret")
        page.get_by_label("confirmation du mot de passe").fill("N0uveau-secret")
        page.get_by_role("button", name="Changer le mot de passe").click()
        expect(page.get_by_text("Votre mot de passe a été changé.")).to_be_visible()
        browser.check("account page after a password change")

        page.get_by_role("link", name="Changer d'adresse mail").click()
        browser.check("email page")
        page.get_by_label("nouvelle adresse mail").fill("jean.nouveau@example.org")
        page.get_by_label("confirmation de l'adresse mail").fill("jean.nouveau@example.org")
        page.get_by_label("mot de passe actuel").fill("N0uveau-secret")
        page.get_by_role("button", name="Changer l'adresse").click()
        expect(page.get_by_text("Nouvelle adresse en attente de confirmation")).to_be_visible()
        browser.check("account page with an address to confirm")

        confirmation = next(message for message in smtp_server.wait_for(2) if message["To"] == "jean.nouveau@example.org")
        (link,) = re.findall(r"http://\S+/compte/adresse-mail/\S+", confirmation.get_body(("plain",)).get_content())
        page.goto(link)
        browser.check("email confirmation page")
        page.get_by_role("button", name="Confirmer l'adresse").click()
        expect(page.get_by_text("est maintenant jean.nouveau@example.org")).to_be_visible()
        browser.check("email confirmed page")
        page.goto(link)
        browser.check("used confirmation link page")

        page.goto(f"{provider_url}/compte/")
        page.get_by_label("Langue des pages et des courriers").select_option("en")
        page.get_by_role("button", name="Enregistrer la langue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Manage your account")
        browser.check("account page in English")

        page.get_by_role("button", name="Log out everywhere").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("You are logged out")
        browser.check("logged out everywhere page")
        assert not browser.missing, browser.missing
