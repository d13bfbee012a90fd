"""The parents' journey (docs/parents-journey.md, « Lost password or identifier ») in a real
browser: « mot de passe oublié » from the ENT's login page to a successful ENT login with the
new password, the email read from the SMTP server the test runs. axe-core checks every recovery
page on the way."""

import re

import pytest
from playwright.sync_api import expect

from .test_browser_demo import PUBLIC, ent_url, provider_socket, provider_url, settings  # noqa: F401
from .test_browser_pages import Browser
from .test_forgotten import NEW_PASSWORD, reset_message

pytestmark = pytest.mark.browser


def test_forgotten_password_from_the_ent_login_to_the_ent_with_the_new_password(ent_url, provider_url, parent, smtp_server, chromium_page):
    with chromium_page() as page:
        browser = Browser(page, provider_url)
        page.goto(ent_url)
        page.get_by_role("link", name="SE CONNECTER").click()
        page.get_by_role("link", name=PUBLIC).click()
        expect(page).to_have_url(re.compile(re.escape(f"{provider_url}/authorize?")))

        page.get_by_role("link", name="mot de passe oublié").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe oublié")
        browser.check("forgotten password page")
        page.get_by_label("Identifiant *", exact=True).fill("jean.dupont1")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_text("Si l'identifiant correspond à un compte, un courrier électronique vient d'être envoyé")).to_be_visible()
        browser.check("reset requested page")

        link, temporary = reset_message(smtp_server.wait_for(1)[0])
        assert link.startswith(f"{provider_url}/mot-de-passe-oublie/")
        page.goto(link)  # as when the parent clicks it in the mail reader
        expect(page.get_by_text("jean.dupont1", exact=True)).to_be_visible()
        browser.check("new password page")
        page.get_by_label("mot de passe temporaire").fill(temporary)
        page.get_by_label("nouveau mot de passe").fill(NEW_PASSWORD)
        page.get_by_label("confirmation du mot de passe").fill("Pas-le-meme1")
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_text("Les deux mots de passe sont différents.")).to_be_visible()
        browser.check("new password page with an error")
        page.get_by_label("nouveau mot de passe").fill(NEW_PASSWORD)
        page.get_by_label("confirmation du mot de passe").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_text("Le mot de passe de votre compte jean.dupont1 est modifié.")).to_be_visible()
        browser.check("password changed page")

        page.get_by_role("link", name="Se connecter").click()
        expect(page).to_have_url(re.compile(re.escape(f"{provider_url}/connexion?next=")))
        page.get_by_label("Identifiant *", exact=True).fill("jean.dupont1")
        page.get_by_label("Mot de passe *", exact=True).fill(NEW_PASSWORD)
        page.get_by_role("button", name="Valider").click()

        expect(page).to_have_url(f"{ent_url}/espace")
        expect(page.get_by_role("heading", level=1)).to_have_text("Jean Dupont")

        notice = smtp_server.wait_for(2)[1]
        assert notice["Subject"] == "Le mot de passe de votre compte Téléservices a été modifié"

        page.goto(f"{provider_url}/identifiant-oublie")
        browser.check("forgotten identifier page")
        assert not browser.missing, browser.missing
