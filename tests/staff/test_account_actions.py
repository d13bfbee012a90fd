"""The issue page (letters downloaded, idempotent), and an account's actions: regeneration
(a new letter, the same account) and the reply coupon's refusal."""

import io
import re

import pypdf
import pytest
from sqlalchemy import select

from idp.accounts.lifecycle import provisional_secret_matches
from idp.extensions import db
from idp.models import Account, AccountState

from ..oidc_helpers import csrf_token
from ..travel import moment
from .conftest import HEADER, bound_labels, import_csv, log_in

SECRET = re.compile(r"Mot de passe provisoire : ([A-Z0-9-]+)")


def pdf_text(data):
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [page.extract_text() for page in reader.pages]


def post_issue(client, uai="0140001A", **data):
    page = client.get(f"/gestion/etablissements/{uai}/edition")
    return client.post(f"/gestion/etablissements/{uai}/edition", data={**data, "csrf_token": csrf_token(page.text)})


@pytest.fixture
def pupils(app, establishment):
    import_csv(
        app,
        "0140001A",
        HEADER + "E001;Dupont;Alice;04/05/2012;6A;Dupont;Jean;jean@example.org;1\n"
        "E001;Dupont;Alice;04/05/2012;6A;Durand;Marie;;2\n"
        "E002;Bœuf;Zoé;12/11/2011;5B;Bœuf;François;;1\n",
    )


def test_issue_page_issues_a_class_and_downloads_its_letters(app, client, secretary, pupils, clock, audit_events):
    # Midday in Paris, 10 s into a TOTP step: the file name is dated with the UTC day and
    # the letters with the Paris one, which are the same day at midday.
    midday = moment(paris="12:00", seconds=10)
    clock.move_to(midday)
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/edition")
    assert page.status_code == 200 and bound_labels(page.text) and "<script" not in page.text
    assert re.search(r'<option value="6A">6A</option>', page.text) and re.search(r'<option value="">toutes les classes</option>', page.text)
    response = post_issue(client, class_name="6A", kind="all")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="courriers-0140001A-6A-{midday:%Y%m%d}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"  # the letters carry provisional secrets
    assert response.data.startswith(b"%PDF")
    pages = pdf_text(response.data)
    assert len(pages) == 3  # Alice, and one for each of her two legal guardians
    assert [re.search(r"Identifiant : (\S+)", text).group(1) for text in pages] == ["alice.dupont1", "jean.dupont1", "marie.durand1"]
    with app.app_context():
        jean = db.session.scalar(select(Account).where(Account.identifier == "jean.dupont1"))
        assert jean.state is AccountState.ISSUED
        assert provisional_secret_matches(jean, SECRET.search(pages[1]).group(1))
        assert db.session.scalar(select(db.func.count()).select_from(Account)) == 3  # not 5B
    issued = audit_events("account_issued")
    assert len(issued) == 3 and all(event.details == {"uai": "0140001A", "staff": secretary.email} for event in issued)


def test_issuing_again_issues_nothing_and_says_so(app, client, secretary, pupils, clock):
    log_in(client, secretary)
    assert post_issue(client, class_name="", kind="eleve").mimetype == "application/pdf"
    again = post_issue(client, class_name="", kind="eleve")
    assert again.status_code == 200 and again.mimetype == "text/html"
    assert "Aucun compte à éditer" in again.text
    parents = post_issue(client, class_name="", kind="parent")
    assert len(pdf_text(parents.data)) == 3
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Account)) == 5


def test_issuing_an_unknown_class_is_refused_with_a_message(app, client, secretary, pupils, clock):
    log_in(client, secretary)
    response = post_issue(client, class_name="9Z", kind="all")
    assert response.status_code == 400
    assert "Classe inconnue" in response.text
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Account)) == 0


def test_another_establishments_issue_page_is_404(client, secretary, other_establishment, clock):
    log_in(client, secretary)
    assert client.get("/gestion/etablissements/0610002B/edition").status_code == 404
    token = csrf_token(client.get("/gestion/etablissements/0140001A/edition").text)
    assert client.post("/gestion/etablissements/0610002B/edition", data={"csrf_token": token, "kind": "all"}).status_code == 404


def account_id(app, identifier):
    with app.app_context():
        return db.session.scalar(select(Account.id).where(Account.identifier == identifier))


def test_regeneration_downloads_a_new_letter_for_the_same_account(app, client, secretary, pupils, clock, audit_events):
    log_in(client, secretary)
    first = pdf_text(post_issue(client, class_name="5B", kind="parent").data)[0]
    old_secret = SECRET.search(first).group(1)
    francois = account_id(app, "francois.boeuf1")
    with app.app_context():
        account = db.session.get(Account, francois)
        sub = account.sub
        account.state = AccountState.EXPIRED
        db.session.commit()
    path = f"/gestion/etablissements/0140001A/comptes/{francois}"
    page = client.get(path)
    assert bound_labels(page.text)

    unconfirmed = client.post(f"{path}/regeneration", data={"csrf_token": csrf_token(page.text)})
    assert unconfirmed.status_code == 400
    assert "Cochez la case" in unconfirmed.text

    response = client.post(f"{path}/regeneration", data={"csrf_token": csrf_token(page.text), "confirm": "y"})
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert "attachment" in response.headers["Content-Disposition"] and response.headers["Cache-Control"] == "no-store"
    letter = pdf_text(response.data)
    assert len(letter) == 1 and "Identifiant : francois.boeuf1" in letter[0]
    new_secret = SECRET.search(letter[0]).group(1)
    with app.app_context():
        account = db.session.get(Account, francois)
        assert account.sub == sub and account.state is AccountState.ISSUED
        assert provisional_secret_matches(account, new_secret)
        assert not provisional_secret_matches(account, old_secret)
    assert audit_events("account_regenerated")[-1].details == {"staff": secretary.email}
    history = client.get(path).text.split("<h2>Historique</h2>")[1]
    assert "Compte régénéré (nouveau courrier)" in history and secretary.email in history
    assert new_secret not in client.get(path).text


def test_refusal_is_recorded_and_withdrawn(app, client, secretary, pupils, clock, audit_events):
    log_in(client, secretary)
    post_issue(client, class_name="6A", kind="parent")
    jean = account_id(app, "jean.dupont1")
    path = f"/gestion/etablissements/0140001A/comptes/{jean}"
    page = client.get(path)
    assert "Enregistrer le refus des téléservices" in page.text
    response = client.post(f"{path}/refus", data={"csrf_token": csrf_token(page.text), "refused": "1"})
    assert response.status_code == 303
    page = client.get(response.location)
    assert "Refus des téléservices enregistré" in page.text and "Annuler le refus des téléservices" in page.text
    with app.app_context():
        assert db.session.get(Account, jean).teleservices_refused
    client.post(f"{path}/refus", data={"csrf_token": csrf_token(page.text), "refused": "0"})
    with app.app_context():
        assert not db.session.get(Account, jean).teleservices_refused
    assert [event.event for event in audit_events() if event.event.startswith("teleservices_")] == [
        "teleservices_refused",
        "teleservices_refusal_withdrawn",
    ]
    assert audit_events("teleservices_refused")[-1].details == {"staff": secretary.email}
    assert client.post(f"{path}/refus", data={"csrf_token": csrf_token(page.text), "refused": "oui"}).status_code == 400


def test_account_actions_on_another_establishments_account_are_404(app, client, make_staff, pupils, other_establishment, clock):
    log_in(client, make_staff())
    other = make_staff("lycee@example.org", uais=["0610002B"])
    jean_client = client
    post_issue(jean_client, class_name="6A", kind="parent")
    jean = account_id(app, "jean.dupont1")
    stranger = client.application.test_client()
    clock.shift(30)
    log_in(stranger, other)
    token = csrf_token(stranger.get("/gestion/etablissements/0610002B/").text)
    for path in (f"/gestion/etablissements/0610002B/comptes/{jean}", f"/gestion/etablissements/0140001A/comptes/{jean}"):
        assert stranger.get(path).status_code == 404
        assert stranger.post(f"{path}/regeneration", data={"csrf_token": token, "confirm": "y"}).status_code == 404
        assert stranger.post(f"{path}/refus", data={"csrf_token": token, "refused": "1"}).status_code == 404
    with app.app_context():
        account = db.session.get(Account, jean)
        assert not account.teleservices_refused and account.state is AccountState.ISSUED


def test_an_unknown_kind_of_account_is_refused_in_words(app, client, secretary, pupils, clock):
    log_in(client, secretary)
    response = post_issue(client, class_name="6A", kind="tous")
    assert response.mimetype == "text/html"
    assert "Choisissez les comptes à éditer." in response.text
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Account)) == 0


@pytest.fixture
def two_classes(app, establishment):
    """5B: Zoé and her parent (2 accounts); 6A: Alice and her two parents (3 accounts)."""
    import_csv(
        app,
        "0140001A",
        HEADER + "E001;Dupont;Alice;04/05/2012;6A;Dupont;Jean;;1\n"
        "E001;Dupont;Alice;04/05/2012;6A;Durand;Marie;;2\n"
        "E002;Bœuf;Zoé;12/11/2011;5B;Bœuf;François;;1\n",
    )


def identifiers(response):
    return [re.search(r"Identifiant : (\S+)", text).group(1) for text in pdf_text(response.data)]


def test_a_click_issues_at_most_letters_per_file_whole_classes_first(app, client, secretary, two_classes, clock):
    app.config["LETTERS_PER_FILE"] = 4
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/edition")
    assert "Un fichier contient au plus 4 courriers, par classes entières" in page.text
    # 5B (2) and 6A (3) do not fit in one file of 4: 5B alone, then 6A.
    first = post_issue(client, class_name="", kind="all")
    assert identifiers(first) == ["zoe.boeuf1", "francois.boeuf1"]
    assert re.fullmatch(r'attachment; filename="courriers-0140001A-5B-5B-\d{8}\.pdf"', first.headers["Content-Disposition"])
    notice = client.get("/gestion/etablissements/0140001A/edition").text
    assert "2 comptes édités (classes 5B à 5B) : le fichier des courriers en contient au plus 4. Il reste 3 comptes à éditer" in notice
    second = post_issue(client, class_name="", kind="all")
    assert identifiers(second) == ["alice.dupont1", "jean.dupont1", "marie.durand1"]
    assert "Aucun compte à éditer" in post_issue(client, class_name="", kind="all").text
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Account)) == 5


def test_a_class_larger_than_a_file_is_cut(app, client, secretary, two_classes, clock):
    app.config["LETTERS_PER_FILE"] = 2
    log_in(client, secretary)
    assert identifiers(post_issue(client, class_name="6A", kind="all")) == ["alice.dupont1", "jean.dupont1"]
    assert identifiers(post_issue(client, class_name="6A", kind="all")) == ["marie.durand1"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Account)) == 3
