"""The back office in a real browser (system Chromium through Playwright): a secretary
enrols with the link, scans nothing but reads the TOTP secret shown as text, logs in again
with password and code, imports a CSV, issues a class and downloads its letters.

Time runs (the server is real) but is moved forward with time_machine between the
enrolment and the next login, so that the next TOTP step comes without waiting.
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from ..test_browser_demo import provider_socket, provider_url, settings  # noqa: F401
from .conftest import STAFF_PASSWORD, fill_login_in_browser

pytestmark = pytest.mark.browser

CSV = Path(__file__).resolve().parent.parent / "fixtures" / "csv" / "eleves-utf8-bom.csv"


def test_secretary_enrols_logs_in_with_totp_imports_issues_and_downloads_letters(provider_url, make_staff, tmp_path, chromium_page):
    member = make_staff(enrolled=False)
    with time_machine.travel(datetime.now(UTC), tick=True) as clock, chromium_page() as page:
        page.goto(f"{provider_url}/gestion/inscription/{member.token}")
        page.get_by_label("Nouveau mot de passe").fill(STAFF_PASSWORD)
        page.get_by_label("Confirmation du mot de passe").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Valider").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Double authentification")
        qr_code = page.get_by_role("img", name="QR code à scanner avec votre application d'authentification")
        expect(qr_code).to_be_visible()
        box = qr_code.bounding_box()
        assert box["width"] >= 150 and box["height"] >= 150
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Code de vérification").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Valider").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Codes de secours")
        expect(page.locator(".recovery-codes li")).to_have_count(10)
        page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")
        page.get_by_role("button", name="Se déconnecter").click()

        clock.shift(60)
        page.goto(f"{provider_url}/gestion/etablissements/0140001A/import")
        expect(page).to_have_url(re.compile(re.escape(f"{provider_url}/gestion/connexion?")))
        page.get_by_label("Adresse mail").fill(member.email)
        page.get_by_label("Mot de passe").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.get_by_label("Code de vérification").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Valider").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Importer les élèves et leurs responsables légaux")
        page.get_by_label("Fichiers").set_input_files(str(CSV))
        page.get_by_role("button", name="Importer").click()
        expect(page.get_by_text("Import terminé.")).to_be_visible()
        expect(page.get_by_role("row", name="élèves ajoutés 3", exact=True)).to_be_visible()

        page.get_by_role("link", name="Éditer les comptes").click()
        page.get_by_label("Classe").select_option("6A")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Éditer les comptes et télécharger les courriers").click()
        download = download_info.value
        assert re.fullmatch(r"courriers-0140001A-6A-\d{8}\.pdf", download.suggested_filename)
        letters = Path(download.path()).read_bytes()
        assert letters.startswith(b"%PDF")

        page.get_by_role("link", name="Tableau de bord").click()
        expect(page.get_by_role("img", name="Comptes par classe et par état")).to_be_visible()
        # 6A: Alice and her two legal guardians issued, none activated yet.
        row = page.get_by_role("row", name=re.compile(r"^6A "))
        expect(row.get_by_role("cell")).to_have_text(["0", "0", "3", "0", "0", "0", "3", "0 %", "0 / 0"])


def _log_in(page, provider_url, member):
    page.goto(f"{provider_url}/gestion/connexion")
    fill_login_in_browser(page, member)
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")


def _no_axe_violation(page, what):
    violations = Axe().run(page).response["violations"]
    report = [f"{item['id']} ({item['impact']}): {item['help']} at {[node['target'] for node in item['nodes']]}" for item in violations]
    assert not report, f"{what}: axe-core violations:\n  " + "\n  ".join(report)


OVERFLOW = "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
# For the failure's message: the elements that reach past the screen's right edge.
WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter(each => each.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).slice(0, 5)
  .map(each => `${each.tagName}.${each.className} ${(each.textContent || "").trim().slice(0, 40)}`)"""


@pytest.mark.parametrize("width", [375, 1280])
def test_back_office_fits_the_screen_with_its_menu_breadcrumb_and_who_is_logged_in(provider_url, secretary, school, chromium_page, width):
    with chromium_page(width=width) as page:
        _log_in(page, provider_url, secretary)
        # The establishment and the person logged in, with the button to log out, at every width
        # (in the header on large screens, above the page on small ones: one of the two is shown).
        expect(page.get_by_text("Collège Jean Moulin (0140001A)", exact=True).filter(visible=True)).to_have_count(1)
        expect(page.get_by_text(f"Connecté : Claire Martin ({secretary.email})").filter(visible=True)).to_have_count(1)
        expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
        breadcrumb = page.get_by_role("navigation", name="vous êtes ici :")
        expect(breadcrumb.get_by_role("link")).to_have_text(["Mes établissements"])
        menu = page.get_by_role("navigation", name="Collège Jean Moulin")
        expect(menu.get_by_role("link")).to_have_text(
            ["Tableau de bord", "Importer les élèves", "Éditer les comptes", "Mes établissements"]
        )
        expect(menu.get_by_role("link", name="Tableau de bord")).to_have_attribute("aria-current", "page")
        chart = page.get_by_role("img", name="Comptes par classe et par état")
        expect(chart).to_be_visible()
        assert chart.bounding_box()["width"] <= width
        assert page.evaluate(OVERFLOW) <= 0, ("the dashboard is wider than the screen", page.evaluate(WIDEST))
        _no_axe_violation(page, "dashboard")

        page.get_by_label("Nom ou identifiant").fill("jean")
        page.get_by_role("button", name="Rechercher").click()
        page.get_by_role("link", name="jean.dupont1").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Compte jean.dupont1")
        expect(breadcrumb.get_by_role("link")).to_have_text(["Mes établissements", "Collège Jean Moulin"])
        expect(page.get_by_role("cell", name="Compte édité (courrier imprimé)")).to_be_visible()
        assert page.evaluate(OVERFLOW) <= 0, ("the account page is wider than the screen", page.evaluate(WIDEST))
        _no_axe_violation(page, "account page")

        for link in ("Importer les élèves", "Éditer les comptes"):
            page.get_by_role("navigation", name="Collège Jean Moulin").get_by_role("link", name=link).click()
            expect(breadcrumb.locator("[aria-current=page]")).to_have_text(link)
            assert page.evaluate(OVERFLOW) <= 0, (f"« {link} » is wider than the screen", page.evaluate(WIDEST))
