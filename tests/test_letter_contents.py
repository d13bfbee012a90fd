"""What a letter tells a family beyond its codes, read back with pypdf: the inactivity rule
beside the activation deadline, how to reach the school, the grammar of the names, the
configured addresses of the provider and of the ENT; and all of it still on one page."""

import io

import pytest
from pypdf import PdfReader

from idp.accounts.lifecycle import regenerate
from idp.extensions import db
from idp.models import Account, Establishment, LegalGuardian
from idp.schools.establishments import update_establishment
from idp.schools.issuing import issue_accounts
from idp.schools.letters import CUT_LINE, render_letters

from .issuing_helpers import add_pupil, issue, pdf_pages


def _set_contact(app, **fields):
    with app.app_context():
        found = db.session.scalar(db.select(Establishment))
        update_establishment(found, **fields)
        db.session.commit()


def _set_civility(app, given_name, civility):
    with app.app_context():
        db.session.execute(db.update(LegalGuardian).where(LegalGuardian.given_name == given_name).values(civility=civility))
        db.session.commit()


def test_the_inactivity_rule_is_beside_the_activation_deadline(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    _, pdf = issue(app, letters=True)
    for text in pdf_pages(pdf):
        lines = text.splitlines()
        deadline = next(index for index, line in enumerate(lines) if line.startswith("À activer avant le : "))
        assert lines[deadline + 1] == "Un compte inutilisé pendant 12 mois est invalidé."


def test_the_inactivity_rule_follows_its_setting(settings, make_app, establishment, app):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [])
    settings["INACTIVITY_DAYS"] = 180
    _, pdf = issue(make_app(settings), letters=True)
    assert "Un compte inutilisé pendant 6 mois est invalidé." in pdf_pages(pdf)[0]


def test_the_letter_gives_the_schools_address_and_phone(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    _set_contact(app, address="12 rue des Écoles\nBP 45\n14000 Caen", phone="0231000000")
    _, pdf = issue(app, letters=True)
    for text in pdf_pages(pdf):
        for line in ("12 rue des Écoles", "BP 45", "14000 Caen", "02 31 00 00 00"):
            assert line in text.splitlines()
        assert "contactez l'établissement, en haut de ce courrier" in text


def test_a_contact_line_replaces_the_address_and_phone(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [])
    _set_contact(app, address="12 rue des Écoles\n14000 Caen", phone="02 31 00 00 00", contact="Secrétariat : 02 31 99 99 99, le matin")
    _, pdf = issue(app, letters=True)
    (text,) = pdf_pages(pdf)
    assert "Secrétariat : 02 31 99 99 99, le matin" in text
    assert "14000 Caen" not in text and "02 31 00 00 00" not in text


@pytest.mark.parametrize(
    ("pupil", "civility", "expected"),
    [
        ("Aïssatou", "MME", "Responsable légale d'Aïssatou Diallo"),
        ("Hugo", "M.", "Responsable légal d'Hugo Diallo"),
        ("Élodie", None, "Responsable légal d'Élodie Diallo"),
        ("Yanis", "MME", "Responsable légale de Yanis Diallo"),
    ],
)
def test_the_guardian_line_follows_french_grammar(app, establishment, pupil, civility, expected):
    add_pupil(app, "0140001A", pupil, "Diallo", "6A", [("Fatou", "Diallo")])
    _set_civility(app, "Fatou", civility)
    _, pdf = issue(app, kind="parent", letters=True)
    (text,) = pdf_pages(pdf)
    assert expected in text
    coupon = text[text.index("COUPON RÉPONSE") :]
    assert ("Responsable légale : Fatou Diallo" if civility == "MME" else "Responsable légal : Fatou Diallo") in coupon


def test_an_english_letter_says_legal_guardian_of(app, establishment):
    add_pupil(app, "0140001A", "Hugo", "Diallo", "6A", [("Fatou", "Diallo")])
    _set_civility(app, "Fatou", "MME")
    with app.app_context():
        issued = issue_accounts(db.session.scalar(db.select(Establishment)), kind="parent")
        for item in issued:
            item.account.language = "en"
        (text,) = pdf_pages(render_letters(issued))
        db.session.rollback()
    assert "Legal guardian of Hugo Diallo" in text
    assert "An account unused for 12 months is invalidated." in text


def test_the_letter_gives_the_configured_addresses(settings, make_app, establishment, app):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    settings["ISSUER"] = "https://teleservices.ac-exemple.fr"
    settings["ENT_NAME"] = "ENT Démo"
    settings["ENT_URL"] = "http://127.0.0.1:5001/"
    _, pdf = issue(make_app(settings), letters=True)
    text = " ".join(pdf_pages(pdf)[0].split())
    assert "Adresse du site : https://teleservices.ac-exemple.fr" in text
    assert "Connectez-vous sur https://teleservices.ac-exemple.fr" in text
    assert "ENT Démo (http://127.0.0.1:5001/)" in text
    assert "l-educdenormandie" not in text and "127.0.0.1:5000" not in text


def test_the_longest_realistic_letter_fits_one_page_above_the_cut(settings, make_app, establishment, app):
    pupils = [("Marie-Clémentine-Aïssatou", "de La Rochefoucauld-Montbel d'Harcourt")]
    add_pupil(app, "0140001A", *pupils[0], "TERMINALE-STI2D-2", [("Jean-Christophe-Emmanuel", "de La Rochefoucauld-Montbel d'Harcourt")])
    _set_contact(
        app,
        name="Lycée polyvalent général, technologique et professionnel Jean-Baptiste-Siméon Chardin",
        address="Cité scolaire Jean-Baptiste-Siméon Chardin, bâtiment administratif B\n"
        "1234 boulevard du Maréchal Jean-Marie-Gabriel de Lattre de Tassigny\nBP 12345\n14000 Caen Cedex 4",
        phone="+33 2 31 00 00 00",
    )
    settings["ISSUER"] = "https://teleservices-des-familles.etablissements-scolaires.ac-normandie.example.fr/ts"
    settings["ENT_NAME"] = "L'Educ de Normandie, l'espace numérique de travail des collèges et des lycées"
    settings["ENT_URL"] = "https://www.l-educdenormandie.example.fr/portail/connexion/"
    _, pdf = issue(make_app(settings), kind="parent", letters=True)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    heights = []
    reader.pages[0].extract_text(visitor_text=lambda text, cm, tm, font, size: text.strip() and heights.append((tm[5], text.strip())))
    cut = (297 - CUT_LINE) * 72 / 25.4
    above = [(height, text) for height, text in heights if height > cut]
    texts = [text for _, text in above]
    assert min(height for height, _ in above) > cut + 2
    assert "Un compte inutilisé pendant 12 mois est invalidé." in texts
    assert "14000 Caen Cedex 4" in texts and "02 31 00 00 00" in texts
    # The letterhead stays above the title.
    title = next(height for height, text in above if text == "Votre compte Téléservices")
    letterhead = [height for height, text in above if text in ("14000 Caen Cedex 4", "02 31 00 00 00")]
    assert min(letterhead) > title + 10


def test_a_long_contact_line_is_wrapped_above_the_title(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [])
    contact = (
        "Secrétariat des élèves, bâtiment A, rez-de-chaussée : 02 31 00 00 00, du lundi au vendredi de 8 h à 12 h "
        "et de 13 h 30 à 17 h, ou par courriel à ce.0140001a@ac-normandie.fr (réponse sous 48 heures)"
    )
    _set_contact(app, contact=contact)
    _, pdf = issue(app, letters=True)
    reader = PdfReader(io.BytesIO(pdf))
    heights = []
    reader.pages[0].extract_text(visitor_text=lambda text, cm, tm, font, size: text.strip() and heights.append((tm[5], text.strip())))
    title = next(height for height, text in heights if text == "Votre compte Téléservices")
    joined = " ".join(text for height, text in heights if height > title)
    assert "ce.0140001a@ac-normandie.fr (réponse sous 48 heures)" in joined


def test_a_regenerated_letter_keeps_the_grammar_and_the_contact(app, establishment):
    add_pupil(app, "0140001A", "Élodie", "Diallo", "6A", [("Fatou", "Diallo")])
    _set_civility(app, "Fatou", "MME")
    _set_contact(app, phone="02 31 00 00 00")
    issued = issue(app, kind="parent")
    with app.app_context():
        account = db.session.get(Account, issued[0].id)
        (text,) = pdf_pages(render_letters([regenerate(account)]))
        db.session.rollback()
    assert "Responsable légale d'Élodie Diallo" in text
    assert "Responsable légale : Fatou Diallo" in text
    assert "02 31 00 00 00" in text.splitlines()
