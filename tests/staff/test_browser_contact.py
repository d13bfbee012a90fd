"""The establishment's contact details in a real browser: the secretary fills the section of
the dashboard, a wrong phone is told beside its field, the saved details come back; axe-core
finds nothing to report in the section, at desktop and phone width."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from ..test_browser_demo import provider_socket, provider_url, settings  # noqa: F401
from .conftest import fill_login_in_browser

pytestmark = pytest.mark.browser


def _no_violation(page):
    violations = Axe().run(page, context="#coordonnees").response["violations"]
    assert [f"{item['id']}: {[node['target'] for node in item['nodes']]}" for item in violations] == []


@pytest.mark.parametrize("width", [None, 375])
def test_the_secretary_saves_the_contact_details_from_the_dashboard(provider_url, make_staff, chromium_page, width):
    member = make_staff()
    with chromium_page(width=width) as page:
        page.goto(f"{provider_url}/gestion/etablissements/0140001A/")
        fill_login_in_browser(page, member)

        section = page.get_by_role("region", name="Coordonnées de l'établissement")
        expect(section).to_be_visible()
        _no_violation(page)
        section.get_by_label("Adresse postale").fill("12 rue des Écoles\n14000 Caen")
        section.get_by_label("Téléphone").fill("02 31 00")
        section.get_by_role("button", name="Enregistrer les coordonnées").click()
        expect(page.get_by_text("Saisissez un numéro de téléphone français")).to_be_visible()
        _no_violation(page)

        page.get_by_label("Téléphone").fill("+33 2 31 00 00 00")
        page.get_by_role("button", name="Enregistrer les coordonnées").click()
        expect(page.get_by_text("Coordonnées de l'établissement enregistrées")).to_be_visible()
        expect(page.get_by_label("Téléphone")).to_have_value("02 31 00 00 00")
        expect(page.get_by_label("Adresse postale")).to_have_value("12 rue des Écoles\n14000 Caen")
