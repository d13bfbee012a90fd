"""Every page the parents' templates define, in a real browser, in each of its states: built from
the State design system's components, with a visible mark on every required field, and no
axe-core violation. The back office's pages are in tests/staff/test_browser_every_page.py.

For each page (PageCheck.check), the test fails when:
- a submit button (`button[type=submit]`, a `button` without type, `input[type=submit]`) or a
  link styled as a button (a class with "btn" or "button" in it) is not a DSFR button (`fr-btn`);
- a required field (`[required]`, `[aria-required=true]`) has no asterisk in the visible text of
  its label, or its form does not say what the asterisk means (« * Champs obligatoires »);
- axe-core reports a violation, or the page carries a script (test_browser_pages.Browser).
"""

import re
from urllib.parse import urlencode

import pytest
from flask import abort
from playwright.sync_api import expect

from idp.extensions import db
from idp.models import Account, AccountState

from .conftest import PASSWORD
from .fc_helpers import NEW_PASSWORD, issue_family
from .test_browser_demo import provider_socket, provider_url, settings  # noqa: F401
from .test_browser_pages import Browser
from .test_forgotten import reset_message
from .test_overload import saturated

pytestmark = pytest.mark.browser

REQUIRED_NOTICE = "* Champs obligatoires"

# The page's own problems, in words: what the issue calls buttons that look like text and
# required fields that nothing marks.
COMPONENTS = """notice => {
  const problems = [];
  const named = element => (element.innerText || element.value || element.outerHTML).trim().slice(0, 80);
  for (const button of document.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]")) {
    if (!button.classList.contains("fr-btn")) problems.push(`submit button « ${named(button)} » is not a DSFR button (fr-btn)`);
  }
  for (const link of document.querySelectorAll("a[class]")) {
    const looksLikeAButton = [...link.classList].some(name => /btn|button/.test(name));
    if (looksLikeAButton && !link.classList.contains("fr-btn")) {
      problems.push(`link « ${named(link)} » looks like a button but is not a DSFR button (fr-btn)`);
    }
  }
  for (const field of document.querySelectorAll("[required], [aria-required=true]")) {
    const labels = [...(field.labels || [])];
    const legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    const text = labels.map(label => label.innerText).join(" ") || (field.type === "radio" && legend ? legend.innerText : "");
    if (!text.includes("*")) problems.push(`required field « ${field.name} » has no visible mark in its label (« ${text} »)`);
    if (field.form && !field.form.innerText.includes(notice)) {
      problems.push(`the form of the required field « ${field.name} » does not say « ${notice} »`);
    }
  }
  return problems;
}"""


class PageCheck(Browser):
    """test_browser_pages.Browser's checks (axe-core, no script, every static file), and the
    DSFR's buttons and the required fields' marks; every page checked is named in `seen`."""

    def __init__(self, page, base_url):
        super().__init__(page, base_url)
        self.seen = []

    def check(self, what):
        problems = self.page.evaluate(COMPONENTS, REQUIRED_NOTICE)
        assert not problems, f"{what}:\n  " + "\n  ".join(problems)
        super().check(what)
        self.seen.append(what)

    def visit(self, path, what, heading=None):
        response = self.page.goto(f"{self.base_url}{path}")
        if heading:
            expect(self.page.get_by_role("heading", level=1)).to_have_text(heading)
        self.check(what)
        return response


def log_in(page, identifier, password):
    page.get_by_label("Identifiant *", exact=True).fill(identifier)
    page.get_by_label("Mot de passe *", exact=True).fill(password)
    page.get_by_role("button", name="Valider").click()


def link_in(message, pattern):
    return re.search(pattern, message.get_body(("plain",)).get_content()).group(0)


def message_where(smtp_server, test):
    """The first email received that passes `test`, once it has arrived."""
    count = 1
    while True:
        messages = smtp_server.wait_for(count)
        for message in messages:
            if test(message):
                return message
        count = len(messages) + 1


@pytest.fixture
def error_routes(app):
    """Pages that answer 500 and 503, as an unexpected error and a cancelled statement do;
    added before the server's first request."""

    @app.get("/essai/erreur/<int:code>")
    def failing(code):
        abort(code)


@pytest.fixture
def family(app, establishment):
    return issue_family(app)


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_every_page_of_a_family_from_the_letter_to_the_account(app, error_routes, family, provider_url, smtp_server, chromium_page, width):
    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        pages.visit("/", "home page", "Téléservices de l'académie de Normandie")
        pages.visit("/connexion", "login page", "Connexion")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_text("Saisissez votre identifiant.")).to_be_visible()
        pages.check("login page with errors")

        # First connection, with the letter's provisional password.
        log_in(page, "jean.dupont1", family["parent"].secret)
        expect(page.get_by_role("heading", level=1)).to_have_text("Première connexion")
        pages.check("first connection page")
        page.get_by_label("nouveau mot de passe *", exact=True).fill("court")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Première connexion")
        pages.check("first connection page with errors")
        page.get_by_label("nouveau mot de passe *", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("confirmation du mot de passe *", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("adresse mail *", exact=True).fill("jean.nouveau@example.org")
        page.get_by_label("confirmation de l'adresse mail *", exact=True).fill("jean.nouveau@example.org")
        page.get_by_label("date de naissance *", exact=True).fill("14/03/2013")
        page.get_by_role("button", name="Valider").click()

        # Pending: the page, and the home and account pages of a pending account.
        expect(page.get_by_role("heading", level=1)).to_have_text("Activez votre compte")
        pages.check("pending page")
        page.get_by_label("adresse mail *", exact=True).fill("pas-une-adresse")
        page.get_by_role("button", name="Corriger l'adresse").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Activez votre compte")
        pages.check("pending page with errors")
        pages.visit("/", "home page of a pending account")
        pages.visit("/compte/", "account page of a pending account", "Gérer son compte")

        # Activation: ready, done, then the used link.
        link = link_in(smtp_server.wait_for(1)[0], rf"{re.escape(provider_url)}/activation/\S+")
        pages.visit(link.removeprefix(provider_url), "activation page", "Activation du compte")
        page.get_by_role("button", name="Activer mon compte").click()
        expect(page.get_by_role("status")).to_have_text("Votre compte jean.dupont1 est activé.")
        pages.check("activated page")
        pages.visit(link.removeprefix(provider_url), "used activation link page", "Activation du compte")

        # « Gérer son compte » and its pages.
        pages.visit("/", "home page, logged in")
        pages.visit("/compte/", "account page", "Gérer son compte")
        pages.visit("/compte/mot-de-passe", "password page")
        page.get_by_role("button", name="Changer le mot de passe").click()
        pages.check("password page with errors")
        pages.visit("/compte/adresse-mail", "email page")
        page.get_by_label("nouvelle adresse mail *", exact=True).fill("jean.autre@example.org")
        page.get_by_label("confirmation de l'adresse mail *", exact=True).fill("jean.autre@example.org")
        page.get_by_label("mot de passe actuel *", exact=True).fill(NEW_PASSWORD)
        page.get_by_role("button", name="Changer l'adresse").click()
        expect(page.get_by_text("Nouvelle adresse en attente de confirmation")).to_be_visible()
        pages.check("account page with an address to confirm")
        confirmation = message_where(smtp_server, lambda message: message["To"] == "jean.autre@example.org")
        link = link_in(confirmation, rf"{re.escape(provider_url)}/compte/adresse-mail/\S+")
        pages.visit(link.removeprefix(provider_url), "email confirmation page")
        page.get_by_role("button", name="Confirmer l'adresse").click()
        pages.check("email confirmed page")
        pages.visit(link.removeprefix(provider_url), "used email confirmation link page")

        # Logging out.
        pages.visit("/logout", "logout confirmation page", "Se déconnecter ?")
        page.get_by_role("button", name="Se déconnecter", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Vous êtes déconnecté")
        pages.check("logged-out page")

        # Lost password: the request, the email's link, the new password, the used link.
        pages.visit("/mot-de-passe-oublie", "forgotten password page", "Mot de passe oublié")
        page.get_by_role("button", name="Valider").click()
        pages.check("forgotten password page with errors")
        page.get_by_label("Identifiant *", exact=True).fill("jean.dupont1")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_text("Si l'identifiant correspond à un compte")).to_be_visible()
        pages.check("password reset requested page")
        link, temporary = reset_message(message_where(smtp_server, lambda message: "/mot-de-passe-oublie/" in message.as_string()))
        pages.visit(link.removeprefix(provider_url), "new password page", "Nouveau mot de passe")
        page.get_by_label("mot de passe temporaire *", exact=True).fill(temporary)
        page.get_by_label("nouveau mot de passe *", exact=True).fill("Encore-2025x")
        page.get_by_label("confirmation du mot de passe *", exact=True).fill("Encore-2025x")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_text("Le mot de passe de votre compte jean.dupont1 est modifié.")).to_be_visible()
        pages.check("password changed page")
        pages.visit(link.removeprefix(provider_url), "used new password link page", "Nouveau mot de passe")

        # Lost identifier.
        pages.visit("/identifiant-oublie", "forgotten identifier page")
        page.get_by_label("Adresse mail *", exact=True).fill("jean.autre@example.org")
        page.get_by_role("button", name="Valider").click()
        pages.check("identifier sent page")

        # The static pages, and the errors.
        pages.visit("/mentions-legales", "legal notice page")
        pages.visit("/accessibilite", "accessibility page")
        pages.visit("/contact", "contact page")
        assert pages.visit("/nulle-part", "not-found page", "Page introuvable").status == 404
        assert pages.visit("/connexion?next=%01", "bad request page", "Demande refusée").status == 400
        assert pages.visit("/deconnexion", "wrong method page", "Action impossible").status == 405
        assert pages.visit("/essai/erreur/500", "server error page", "Le service rencontre un problème").status == 500
        assert pages.visit("/essai/erreur/503", "busy service page", "Le service est très demandé").status == 503
        with saturated(app):
            assert (
                pages.visit("/connexion", "too many logins page", "Trop de connexions en ce moment : réessayez dans une minute").status
                == 503
            )
        pages.visit("/connexion", "login page before a stale form")
        page.locator("input[name=csrf_token]").evaluate("input => input.value = 'perime'")
        log_in(page, "jean.dupont1", "Encore-2025x")
        expect(page.get_by_role("heading", level=1)).to_have_text("La page a expiré")
        pages.check("expired form page")
        assert not pages.missing, pages.missing


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_every_page_between_a_service_and_the_family(app, make_rp, parent, make_account, provider_url, chromium_page, width):
    canteen = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    make_account("parent", "Marie", "Martin", email="marie@example.org")
    make_account("parent", "Paul", "Bernard", email="paul@example.org")
    with app.app_context():
        accounts = {each.identifier: each for each in db.session.scalars(db.select(Account))}
        accounts["marie.martin1"].state = AccountState.INVALIDATED
        accounts["paul.bernard1"].teleservices_refused = True
        db.session.commit()
    authorize = "/authorize?" + urlencode(canteen.authorize_params(scope="openid profile email"))

    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        pages.visit(authorize, "login page of a service", "Connexion")
        log_in(page, "jean.dupont1", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Cantine en ligne demande l'accès à votre compte")
        pages.check("consent page")
        pages.visit("/authorize?" + urlencode({"client_id": "inconnu", "response_type": "code"}), "invalid authorization request page")
        assert not pages.missing, pages.missing

    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        page.goto(f"{provider_url}/connexion")
        log_in(page, "marie.martin1", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Connexion impossible")
        pages.check("refused login page")
        assert not pages.missing, pages.missing

    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        page.goto(f"{provider_url}{authorize}")
        log_in(page, "paul.bernard1", PASSWORD)
        expect(page.locator(".fr-alert--warning")).to_be_visible()
        pages.check("service refused by the family page")
        assert not pages.missing, pages.missing


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_every_page_of_a_saml_service_provider(app, parent, provider_url, chromium_page, width):
    """The SAML door's pages (idp/saml): a request it refuses, the consent of a service
    provider that is not trusted. The page that posts the assertion carries a script by design
    (it posts at once; its button without JavaScript): tests/test_saml_sso.py covers it."""
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.xmldsig import SIG_RSA_SHA256

    from idp.relying_parties.saml import read_metadata, register_service_provider

    from .saml_helpers import ServiceProvider

    sp = ServiceProvider(app.test_client(), app.test_client().get("/saml/metadata").text)
    with app.app_context():
        register_service_provider(read_metadata(sp.metadata), "Médiathèque", "teleservice", trusted=False)
        db.session.commit()
    destination = sp.sso_location(BINDING_HTTP_REDIRECT)
    _, request = sp.client.create_authn_request(destination, sign=False)
    info = sp.client.apply_binding(BINDING_HTTP_REDIRECT, str(request), destination, relay_state="r", sign=True, sigalg=SIG_RSA_SHA256)
    location = dict(info["headers"])["Location"]
    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        pages.visit("/saml/sso", "SAML request refused", "Demande de connexion invalide")
        page.goto(location)
        pages.check("login page of a SAML service provider")
        page.get_by_label("Identifiant *", exact=True).fill(parent.identifier)
        page.get_by_label("Mot de passe *", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Médiathèque demande l'accès à votre compte")
        pages.check("consent page of a SAML service provider")
