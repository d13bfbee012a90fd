"""Every back-office page in a real browser, with the checks of tests/test_browser_every_page.py
(DSFR buttons, marked required fields, no axe-core violation): enrolment (its link, the second
factor's setup, the recovery codes, a dead link), login and its second factor, then a secretary's
establishment (home, dashboard and search, import with its result and its problems, issue, an
account) and the académie's pages (establishments, staff members with a new enrolment link,
connected services: the list, registering one with its errors, the secret shown once, a
service's page and history, changing it, renewing its secret, removing it; SAML service providers)."""

import pyotp
import pytest
from playwright.sync_api import expect

from ..saml_helpers import key_and_certificate, sp_metadata
from ..test_browser_demo import provider_socket, provider_url, settings  # noqa: F401
from ..test_browser_every_page import PageCheck
from .conftest import HEADER, STAFF_PASSWORD

pytestmark = pytest.mark.browser

UAI = "0140001A"


def log_in(page, pages, member):
    """The login page and its second factor, both checked on the way."""
    pages.visit("/gestion/connexion", "staff login page", "Connexion à la gestion")
    page.get_by_role("button", name="Se connecter").click()
    pages.check("staff login page with errors")
    page.get_by_label("Adresse mail *", exact=True).fill(member.email)
    page.get_by_label("Mot de passe *", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Code de vérification")
    pages.check("second factor page")
    page.get_by_label("Code de vérification *", exact=True).fill(pyotp.TOTP(member.secret).now())
    page.get_by_role("button", name="Valider").click()


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_every_page_of_the_enrolment(make_staff, provider_url, chromium_page, width):
    member = make_staff("nouvelle@college.example", enrolled=False)
    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        pages.visit("/gestion/inscription/lien-inconnu", "dead enrolment link page", "Lien d'inscription invalide")
        pages.visit(f"/gestion/inscription/{member.token}", "enrolment page", "Inscription à la gestion")
        page.get_by_role("button", name="Valider").click()
        pages.check("enrolment page with errors")
        page.get_by_label("Nouveau mot de passe *", exact=True).fill(STAFF_PASSWORD)
        page.get_by_label("Confirmation du mot de passe *", exact=True).fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Valider").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Double authentification")
        pages.check("second factor setup page")
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Code de vérification *", exact=True).fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Codes de secours")
        pages.check("recovery codes page")
        assert not pages.missing, pages.missing


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_every_page_of_an_establishment(school, make_staff, provider_url, tmp_path, chromium_page, width):
    # Two establishments: the home page lists them (with one, it goes to its dashboard).
    secretary = make_staff(uais=[UAI, "0610002B"])
    good = tmp_path / "eleves.csv"
    good.write_text(HEADER + "E004;Martin;Léa;02/03/2012;6A;Martin;Sophie;;1\n", encoding="utf-8")
    bad = tmp_path / "mauvais.csv"
    bad.write_text(HEADER + "E005;Martin;;31/02/2012;6A;;;;\n", encoding="utf-8")
    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        log_in(page, pages, secretary)
        pages.visit("/gestion/", "staff home page", "Mes établissements")
        pages.visit(f"/gestion/etablissements/{UAI}/", "dashboard page", "Tableau de bord")
        page.get_by_label("Nom ou identifiant").fill("dupont")
        page.get_by_role("button", name="Rechercher").click()
        expect(page.get_by_role("heading", name="Résultats")).to_be_visible()
        pages.check("dashboard page with search results")

        pages.visit(f"/gestion/etablissements/{UAI}/import", "import page", "Importer les élèves et leurs responsables légaux")
        page.get_by_label("Fichiers").set_input_files(str(good))
        page.get_by_role("button", name="Importer").click()
        expect(page.get_by_text("Import terminé.")).to_be_visible()
        pages.check("import result page")
        page.get_by_label("Fichiers").set_input_files(str(bad))
        page.get_by_role("button", name="Importer").click()
        expect(page.get_by_text("Fichier refusé")).to_be_visible()
        pages.check("import problems page")

        pages.visit(f"/gestion/etablissements/{UAI}/edition", "issue page", "Éditer les comptes et leurs courriers")
        pages.visit(f"/gestion/etablissements/{UAI}/comptes/{school['francois']}", "account page")
        page.get_by_role("button", name="Régénérer et télécharger le courrier").click()
        expect(page.get_by_text("Cochez la case pour confirmer la régénération.")).to_be_visible()
        pages.check("account page with errors")
        assert not pages.missing, pages.missing


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_every_page_of_the_academie(administrator, establishment, provider_url, chromium_page, width, tmp_path):
    with chromium_page(width=width) as page:
        pages = PageCheck(page, provider_url)
        log_in(page, pages, administrator)
        pages.visit("/gestion/academie/etablissements", "establishments page", "Établissements")
        page.get_by_role("button", name="Ajouter l'établissement").click()
        pages.check("establishments page with errors")
        pages.visit(f"/gestion/academie/etablissements/{UAI}", "establishment edit page", f"Modifier l'établissement {UAI}")
        page.get_by_label("Nom *", exact=True).fill("")
        page.get_by_role("button", name="Enregistrer").click()
        expect(page.get_by_text("Saisissez le nom.")).to_be_visible()
        pages.check("establishment edit page with errors")
        pages.visit("/gestion/academie/services", "connected services page", "Services connectés")
        page.get_by_role("link", name="Enregistrer un service").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer un service")
        pages.check("new connected service page")
        page.get_by_label("Nom du service *", exact=True).fill("Cantine en ligne")
        page.get_by_label("URI de redirection *", exact=True).fill("https://a.example.org/cb\nhttps://b.example.org/cb")
        page.locator("label[for=subject_type-1]").click()  # the DSFR draws the radio button under its label
        page.get_by_role("button", name="Enregistrer le service").click()
        expect(page.get_by_text("Enregistrement refusé, rien n'a changé")).to_be_visible()
        pages.check("new connected service page with errors")
        page.get_by_label("URI de redirection *", exact=True).fill("https://a.example.org/cb")
        page.get_by_role("button", name="Enregistrer le service").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Secret du service")
        pages.check("connected service secret page")
        page.get_by_role("link", name="J'ai copié le secret, continuer").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Cantine en ligne")
        pages.check("connected service page")
        page.get_by_role("link", name="Modifier", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Modifier « Cantine en ligne »")
        pages.check("connected service edit page")
        page.get_by_role("button", name="Enregistrer le service").click()
        page.get_by_role("link", name="Renouveler le secret").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Renouveler le secret de « Cantine en ligne »")
        pages.check("connected service secret renewal page")
        page.locator("label[for=overlap-4]").click()
        page.get_by_role("button", name="Renouveler le secret").click()
        expect(page.get_by_text("Renouvellement refusé, rien n'a changé")).to_be_visible()
        pages.check("connected service secret renewal page with errors")
        page.get_by_role("link", name="Annuler").click()
        page.get_by_role("link", name="Supprimer", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Supprimer « Cantine en ligne » ?")
        pages.check("connected service removal page")
        pages.visit("/gestion/academie/personnels", "staff members page", "Personnels")
        page.get_by_role("button", name="Ajouter le personnel").click()
        pages.check("staff members page with errors")
        page.get_by_label("Adresse mail *", exact=True).fill("nouveau@college.example")
        page.get_by_label("Prénom *", exact=True).fill("Léa")
        page.get_by_label("Nom *", exact=True).fill("Petit")
        page.get_by_label("Établissements (UAI)").fill(UAI)
        page.get_by_role("button", name="Ajouter le personnel").click()
        expect(page.locator("#enrolment-link")).to_be_visible()
        pages.check("staff members page with an enrolment link")
        pages.visit("/gestion/academie/saml", "SAML service providers page", "Services SAML")
        page.get_by_role("button", name="Enregistrer le service").click()
        pages.check("SAML service providers page with errors")
        _, certificate = key_and_certificate(tmp_path, "ent")
        (tmp_path / "ent.xml").write_text(sp_metadata("https://ent.example.org", certificate))
        page.get_by_label("Nom du service *", exact=True).fill("ENT core")
        page.get_by_label("Fichier des métadonnées").set_input_files(str(tmp_path / "ent.xml"))
        page.get_by_role("button", name="Enregistrer le service").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("ENT core")
        pages.check("SAML service provider page")
        assert not pages.missing, pages.missing
