"""The credential letters, read back with pypdf: one page per account, the identifier and
provisional password on lines of their own, the deadline, the reply coupon, the order."""

import io
from datetime import timedelta

from pypdf import PdfReader

from idp.extensions import db
from idp.models import Account, Establishment
from idp.schools.issuing import issue_accounts
from idp.schools.letters import CUT_LINE, render_letters

from .issuing_helpers import add_pupil, issue, page_value, pdf_pages
from .travel import french_date, frozen, in_paris, moment


def test_one_a4_page_per_account_with_the_identifier_and_secret(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont"), ("Marie", "Dupont")])
    issued, pdf = issue(app, letters=True)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == len(issued) == 3
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert round(width / 72 * 25.4) == 210 and round(height / 72 * 25.4) == 297
    printed = {page_value(text, "Identifiant"): page_value(text, "Mot de passe provisoire") for text in pdf_pages(pdf)}
    assert printed == {each.identifier: each.secret for each in issued}


def test_the_letter_names_the_school_the_people_the_site_and_the_guide_steps(app, establishment):
    add_pupil(app, "0140001A", "Zoé", "Le Gall-Hervé", "6A", [("Anne", "Le Gall")])
    _, pdf = issue(app, kind="parent", letters=True)
    (text,) = pdf_pages(pdf)
    assert "Collège Jean Moulin" in text
    assert "Anne Le Gall" in text
    assert "Responsable légal de Zoé Le Gall-Hervé" in text
    assert "Adresse du site : http://localhost" in text
    assert "« Valider »" in text
    assert "8 caractères minimum" in text
    assert "date de naissance de votre enfant" in text
    assert "Élève ou parent de l'enseignement public" in text


def test_the_deadline_is_the_issue_date_plus_the_setting(settings, make_app, establishment, app):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    issued_at = moment(days=1, paris="11:00")
    issue_day = in_paris(issued_at).date()
    with frozen(issued_at):
        _, pdf = issue(app, letters=True)
    for text in pdf_pages(pdf):
        assert f"À activer avant le : {french_date(issue_day + timedelta(days=90))}" in text
        assert f"Le {french_date(issue_day)}" in text
    settings["ACTIVATION_DAYS"] = 30
    other = make_app(settings)
    reprinted_on = issue_day + timedelta(days=1)
    with other.app_context():
        accounts = db.session.scalars(db.select(Account)).all()
        letters = render_letters([_Reprint(account) for account in accounts], as_of=reprinted_on)
    assert f"À activer avant le : {french_date(issue_day + timedelta(days=30))}" in pdf_pages(letters)[0]
    assert f"Le {french_date(reprinted_on)}" in pdf_pages(letters)[0]


class _Reprint:
    """An Issued-like record for an account already in the database (the secret is gone)."""

    def __init__(self, account):
        self.account = account
        self.secret = "XXXX-XXXX-XXXX"
        self.pupils = (account.pupil,) if account.pupil else tuple(account.children)


def test_the_reply_coupon_is_at_the_bottom_with_names_class_and_box(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    _, pdf = issue(app, kind="parent", letters=True)
    (text,) = pdf_pages(pdf)
    coupon = text[text.index("COUPON RÉPONSE") :]
    assert "Responsable légal : Jean Dupont" in coupon
    assert "Élève : Alice Dupont" in coupon and "Classe : 6A" in coupon
    assert "Compte : jean.dupont1" in coupon
    assert "Je refuse l'utilisation des téléservices" in coupon
    assert "Ce coupon est sans effet pour l'ENT" in coupon
    assert "Date :" in coupon and "Signature :" in coupon
    # Nothing secret on the part that goes back to school.
    assert "Mot de passe" not in coupon


def test_a_pupil_letter_is_addressed_to_the_pupil(app, establishment):
    add_pupil(app, "0140001A", "Chloë", "Ngô", "4B", [("Thi", "Ngô")])
    _, pdf = issue(app, kind="eleve", letters=True)
    (text,) = pdf_pages(pdf)
    assert page_value(text, "Identifiant") == "chloe.ngo1"
    assert "Chloë Ngô" in text
    assert "Responsable légal" not in text and "Thi Ngô" not in text
    assert "votre date de naissance" in text


def test_letters_are_sorted_by_class_then_name(app, establishment):
    add_pupil(app, "0140001A", "Zoé", "Martin", "6B", [("Paul", "Martin")])
    add_pupil(app, "0140001A", "Léo", "Bernard", "6A", [("Anne", "Bernard"), ("Marc", "Abel")])
    add_pupil(app, "0140001A", "Émile", "Arnaud", "6B", [])
    add_pupil(app, "0140001A", "Ana", "Ézéchiel", "6A", [])
    with app.app_context():
        issued = issue_accounts(db.session.scalar(db.select(Establishment)))
        shuffled = list(reversed(issued))
        pages = pdf_pages(render_letters(shuffled))
        db.session.rollback()
    order = [page_value(text, "Identifiant") for text in pages]
    assert order == [
        "leo.bernard1",  # 6A, Bernard: the pupil's own letter, then the guardians' by name
        "marc.abel1",
        "anne.bernard1",
        "ana.ezechiel1",  # 6A, Ézéchiel sorts as Ezechiel
        "emile.arnaud1",  # 6B
        "zoe.martin1",
        "paul.martin1",
    ]


def test_the_steps_never_cross_the_cut_line_even_with_long_addresses(settings, make_app, establishment, app):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    settings["ISSUER"] = "https://teleservices-des-familles.etablissements-scolaires.ac-normandie.example.fr/ts"
    settings["ENT_NAME"] = "L'Educ de Normandie, l'espace numérique de travail des collèges et des lycées"
    settings["ENT_URL"] = "https://www.l-educdenormandie.example.fr/portail/connexion/"
    other = make_app(settings)
    _, pdf = issue(other, kind="parent", letters=True)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    heights = []
    page.extract_text(visitor_text=lambda text, cm, tm, font, size: text.strip() and heights.append((tm[5], text.strip())))
    cut = (297 - CUT_LINE) * 72 / 25.4  # PDF heights count from the bottom of the page
    above = [(height, text) for height, text in heights if height > cut]
    assert "Mot de passe provisoire :" in [text for _, text in above]
    lowest_above = min(height for height, _ in above)
    assert lowest_above > cut + 2, sorted(above)[:3]
    assert "l'établissement peut vous attribuer un nouveau mot de passe provisoire." in [text for _, text in above]
