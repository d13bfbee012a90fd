"""The parents' guide from the letter to the ENT, in a real browser (docs/parents-journey.md,
« First connection » and « Activation »): the demo's class is issued and its letters printed, a
parent reads their identifier and provisional password from the PDF, logs in from the demo ENT's
button, fills the first connection, is stopped by "Activez votre compte" until they open the
link of the email that a real SMTP server received, activates, and reaches the ENT, which shows
their child.
"""

import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from idp.extensions import db

from .demo_helpers import load_example
from .test_browser_demo import PUBLIC, ent_url, provider_socket, provider_url, settings  # noqa: F401

pytestmark = pytest.mark.browser

seed_demo = load_example("seed_demo")
NEW_PASSWORD = "Bonjour2024x"


def letter_credentials(pdf_path, identifier_start):
    """(identifier, provisional password) of the letter whose identifier starts so."""
    for page in PdfReader(pdf_path).pages:
        text = page.extract_text()
        identifier = re.search(r"^Identifiant : (\S+)$", text, re.MULTILINE).group(1)
        if identifier.startswith(identifier_start):
            return identifier, re.search(r"^Mot de passe provisoire : (.+)$", text, re.MULTILINE).group(1).strip()
    raise AssertionError(f"no letter for {identifier_start}")


def test_parent_follows_the_guide_from_the_letter_to_the_ent(app, ent_url, provider_url, smtp_server, tmp_path, chromium_page):
    with app.app_context():
        seed_demo.seed_people()
        letters, pdf, _issued = seed_demo.seed_class(tmp_path)
        db.session.commit()
    letters.write_bytes(pdf)
    identifier, secret = letter_credentials(letters, "sophie.leroy")

    with chromium_page() as page:
        # docs/parents-journey.md, « First connection »: the ENT's button, the letter's identifier
        # and provisional password.
        page.goto(ent_url)
        page.get_by_role("link", name="SE CONNECTER").click()
        page.get_by_role("link", name=PUBLIC).click()
        expect(page).to_have_url(re.compile(re.escape(f"{provider_url}/authorize?")))
        page.get_by_label("Identifiant *", exact=True).fill(identifier)
        page.get_by_label("Mot de passe *", exact=True).fill(secret)
        page.get_by_role("button", name="Valider").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Première connexion")
        expect(page.get_by_text(identifier, exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="Votre enfant : Emma Leroy")).to_be_visible()
        # The school's file gave an address: it is offered, the parent confirms or changes it.
        expect(page.get_by_label("adresse mail *", exact=True)).to_have_value("sophie.leroy@example.org")
        page.get_by_label("nouveau mot de passe *", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("confirmation du mot de passe *", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("adresse mail *", exact=True).fill("sophie@example.org")
        page.get_by_label("confirmation de l'adresse mail *", exact=True).fill("sophie@example.org")
        page.get_by_label("date de naissance *", exact=True).fill("14/03/2013")
        page.get_by_role("button", name="Valider").click()

        # docs/parents-journey.md, « Activation »: no ENT before the address is confirmed, even when
        # trying it again.
        expect(page).to_have_url(f"{provider_url}/activation-en-attente")
        page.goto(ent_url)
        page.get_by_role("link", name="SE CONNECTER").click()
        page.get_by_role("link", name=PUBLIC).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Activez votre compte")
        expect(page.get_by_text("sophie@example.org", exact=True)).to_be_visible()
        expect(page.get_by_text("courrier indésirable")).to_be_visible()

        # The activation email, as the SMTP server received it.
        message = smtp_server.wait_for(1)[0]
        assert message["To"] == "sophie@example.org"
        text = message.get_body(preferencelist=("plain",)).get_content()
        link = re.search(rf"{re.escape(provider_url)}/activation/\S+", text).group(0)
        page.goto(link)
        page.get_by_role("button", name="Activer mon compte").click()
        expect(page.get_by_role("status")).to_have_text(f"Votre compte {identifier} est activé.")
        # The page offers to go back to the ENT's request that was stopped.
        expect(page.get_by_role("link", name="Continuer")).to_have_attribute("href", re.compile(r"^/authorize\?"))

        # Now the ENT (the provider's session goes on): the parent, and the child of the letter.
        page.goto(ent_url)
        page.get_by_role("link", name="SE CONNECTER").click()
        page.get_by_role("link", name=PUBLIC).click()
        expect(page).to_have_url(f"{ent_url}/espace")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sophie Leroy")
        expect(page.get_by_role("row").filter(has_text="Emma").get_by_role("cell")).to_have_text(["Emma", "Leroy", "6B", "0140001A"])
