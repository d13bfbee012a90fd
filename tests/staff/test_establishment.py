"""An establishment's pages: confined to its staff (404 elsewhere), the dashboard (GROUP BY
figures, SVG chart with its table), the search, an account's history, the import page."""

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.audit import audit
from idp.extensions import db
from idp.models import Account, Pupil

from ..oidc_helpers import csrf_token
from .conftest import HEADER, bound_labels, import_csv, issue, log_in

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_staff_are_confined_to_their_establishments(client, secretary, school, clock):
    log_in(client, secretary)
    assert client.get("/gestion/etablissements/0140001A/").status_code == 200
    assert client.get(f"/gestion/etablissements/0140001A/comptes/{school['jean']}").status_code == 200
    for path in (
        "/gestion/etablissements/0610002B/",
        "/gestion/etablissements/0610002b/",
        "/gestion/etablissements/0610002B/import",
        f"/gestion/etablissements/0610002B/comptes/{school['hugo']}",
        # Another establishment's account under one's own UAI.
        f"/gestion/etablissements/0140001A/comptes/{school['hugo']}",
        "/gestion/etablissements/0140001A/comptes/999999",
        # Beyond an integer column: an unknown page, not a statement the database refuses.
        f"/gestion/etablissements/0140001A/comptes/{2**31}",
        "/gestion/etablissements/pas-un-uai/",
        "/gestion/etablissements/0999999Z/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page introuvable" in response.text
    token = csrf_token(client.get("/gestion/etablissements/0140001A/import").text)
    assert client.post("/gestion/etablissements/0610002B/import", data={"csrf_token": token}).status_code == 404


def test_staff_of_two_establishments_choose_one(client, make_staff, school, clock):
    member = make_staff("deux@college.example", uais=["0140001A", "0610002B"])
    log_in(client, member)
    home = client.get("/gestion/")
    assert home.status_code == 200
    assert "/gestion/etablissements/0140001A/" in home.text and "/gestion/etablissements/0610002B/" in home.text
    assert client.get(f"/gestion/etablissements/0610002B/comptes/{school['hugo']}").status_code == 200


def test_dashboard_counts_accounts_by_state_and_class_with_the_activation_rate(client, secretary, school, clock):
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/")
    assert page.status_code == 200
    text = page.text
    assert "<script" not in text and "style=" not in text
    assert "3 élèves présents ; 4 comptes, dont 2 activés (50 %)" in text
    # 6A: 2 active of 2; 5B: 0 of 2; 4C: Chloé and her parent have no account yet.
    svg = re.search(r"<svg class=\"chart\".*?</svg>", text, re.S).group(0)
    assert re.search(r'aria-labelledby="chart-title chart-desc"', svg)
    assert '<title id="chart-title">' in svg and '<desc id="chart-desc">' in svg
    assert ">100 %</text>" in svg and ">0 %</text>" in svg
    # The same chart for phones, each class's name above its bar (the page shows one of the two).
    small = re.findall(r"<svg class=\"chart\".*?</svg>", text, re.S)[1]
    assert 'aria-labelledby="chart-small-title chart-small-desc"' in small and 'viewBox="0 0 330 ' in small
    assert re.search(r'<text x="0" y="\d+" text-anchor="start" font-size="14" fill="#161616">6A</text>', small)
    rows = {
        re.search(r"<th scope=\"row\">([^<]+)</th>", row).group(1): re.findall(r"<td>([^<]*)</td>", row)
        for row in re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", text, re.S)
    }
    # Columns: active, pending, issued, expired, invalidated, blocked, total, rate, to issue.
    assert rows["6A"] == ["2", "0", "0", "0", "0", "0", "2", "100 %", "0 / 0"]
    assert rows["5B"] == ["0", "1", "1", "0", "0", "0", "2", "0 %", "0 / 0"]
    assert rows["4C"] == ["0", "0", "0", "0", "0", "0", "0", "–", "1 / 1"]
    assert rows["Établissement"][6:] == ["4", "50 %", "1 / 1"]


def test_dashboard_counts_with_a_fixed_number_of_queries(app, client, secretary, school, clock):
    from sqlalchemy import event

    log_in(client, secretary)
    client.get("/gestion/etablissements/0140001A/")
    rows = "".join(f"X{number:03};Nom{number};Prenom;01/01/2012;6B;Parent;P;;1\n" for number in range(40))
    import_csv(app, "0140001A", HEADER + rows)
    issue(app, "0140001A", "6B", {})
    statements = []
    with app.app_context():
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/gestion/etablissements/0140001A/").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) < 12


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("dupont", {"alice.dupont1", "jean.dupont1"}),
        ("JEAN", {"jean.dupont1"}),
        ("zoe.boeuf1", {"zoe.boeuf1"}),
        ("Bœuf Zoé", {"zoe.boeuf1", "francois.boeuf1"}),  # a parent is found by the child's name too
        ("hugo", set()),  # another establishment's
        ("50%_", set()),
    ],
)
def test_search_finds_accounts_by_name_or_identifier(client, secretary, school, clock, text, found):
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/", query_string={"q": text})
    assert page.status_code == 200
    listed = set(re.findall(r"/comptes/\d+\">([^<]+)</a>", page.text))
    assert listed == found
    if not found:
        assert "Aucun compte ne correspond" in page.text


def test_account_page_shows_the_history_newest_first(app, client, secretary, school, clock):
    with app.app_context():
        account = db.session.get(Account, school["jean"])
        audit("login", account=account)
        audit("login_failed", account=account, known=True)
        db.session.commit()
    log_in(client, secretary)
    page = client.get(f"/gestion/etablissements/0140001A/comptes/{school['jean']}")
    assert page.status_code == 200
    assert "Jean Dupont" in page.text and "Alice Dupont, 6A" in page.text
    events = re.findall(r"<td>(Compte édité \(courrier imprimé\)|Connexion au compte|Mot de passe erroné)</td>", page.text)
    assert events == ["Mot de passe erroné", "Connexion au compte", "Compte édité (courrier imprimé)"]
    assert "secretariat@college.example" not in page.text.split("<h2>Historique</h2>")[1]  # issued by the fixture, not a staff


def test_account_page_tells_the_history_and_the_state_in_words(app, client, secretary, school, clock):
    with app.app_context():
        account = db.session.get(Account, school["jean"])
        audit("login_provisional", account=account)
        audit("password_reset_requested", account=account)
        audit("event_from_a_newer_version", account=account)
        db.session.commit()
    log_in(client, secretary)
    path = f"/gestion/etablissements/0140001A/comptes/{school['jean']}"
    page = client.get(path).text
    history = page.split("<h2>Historique</h2>")[1]
    cells = re.findall(r"<td>([^<]+)</td>", history)
    assert "Demande de mot de passe oublié" in cells and "Connexion avec le mot de passe provisoire" in cells
    assert "Autre événement" in cells
    assert "<dd>actif</dd>" in page
    zoe = client.get(f"/gestion/etablissements/0140001A/comptes/{school['zoe']}").text
    assert "<dd>édité, pas encore utilisé</dd>" in zoe and "utilisés" not in zoe
    for code in ("password_reset_requested", "login_provisional", "account_issued", "event_from_a_newer_version"):
        assert code not in page
    client.get("/langue/en")  # the language link of every page
    english = client.get(path).text
    cells = re.findall(r"<td>([^<]+)</td>", english.split("<h2>History</h2>")[1])
    assert "Forgotten password request" in cells and "Login with the provisional password" in cells
    assert "Other event" in cells and "<dd>active</dd>" in english


def test_import_page_imports_a_csv_and_shows_the_counts(app, client, secretary, establishment, clock, audit_events):
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/import")
    assert page.status_code == 200
    assert bound_labels(page.text) and "<script" not in page.text
    assert 'enctype="multipart/form-data"' in page.text and "quelques secondes" in page.text
    data = (FIXTURES / "csv" / "eleves-windows-1252.csv").read_bytes()
    response = client.post(
        "/gestion/etablissements/0140001A/import",
        data={"csrf_token": csrf_token(page.text), "files": [(io.BytesIO(data), "eleves.csv")], "complete": "y"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.text
    assert "Import terminé." in response.text
    assert re.search(r"élèves ajoutés</th><td>3</td>", response.text)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Pupil)) == 3
    imported = audit_events("pupils_imported")[-1]
    assert imported.details["staff_id"] == secretary.id and imported.details["complete"] is True
    again = client.get("/gestion/etablissements/0140001A/import").text
    assert "eleves.csv" in again  # the imports' history
    # « Derniers imports » once on the screen: the heading; the table's caption is for screen readers.
    assert again.count("<h2") and re.findall(r"<h2[^>]*>Derniers imports</h2>", again) == ['<h2 class="fr-mt-6w">Derniers imports</h2>']
    assert '<div class="fr-table fr-table--no-caption"><table tabindex="0">\n  <caption>Derniers imports</caption>' in again


def test_import_page_lists_every_bad_row_and_imports_nothing(app, client, secretary, establishment, clock):
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/import")
    bad = HEADER + "E001;Dupont;Alice;31/02/2012;6A;Dupont;Jean;;1\nE002;;Zoé;12/11/2011;5B;;;;\n"
    response = client.post(
        "/gestion/etablissements/0140001A/import",
        data={"csrf_token": csrf_token(page.text), "files": [(io.BytesIO(bad.encode()), "eleves.csv")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "rien n'a été importé" in response.text
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\d+)</td><td>([^<]*)</td><td>[^<]+</td></tr>", response.text)
    assert ("2", "date_naissance") in rows and ("3", "nom") in rows
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Pupil)) == 0


def test_import_without_a_file_says_so(client, secretary, establishment, clock):
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/import")
    response = client.post("/gestion/etablissements/0140001A/import", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 422
    assert "aucun fichier reçu" in response.text


def test_import_page_takes_a_file_of_thousands_of_pupils(app, client, secretary, establishment, clock):
    rows = "".join(f"E{number:05};Nom{number};Prénom;01/01/2012;6{'ABCD'[number % 4]};Parent{number};Marie;;1\n" for number in range(3000))
    data = (HEADER + rows).encode()
    assert len(data) > 64 * 1024  # more than any other form of the provider may carry
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/import")
    response = client.post(
        "/gestion/etablissements/0140001A/import",
        data={"csrf_token": csrf_token(page.text), "files": [(io.BytesIO(data), "eleves.csv")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert re.search(r"élèves ajoutés</th><td>3000</td>", response.text)


def _between(text, start, end):
    return text.split(start, 1)[1].split(end, 1)[0]


def test_back_office_pages_have_a_side_menu_a_breadcrumb_and_who_is_logged_in(client, secretary, school, clock):
    log_in(client, secretary)
    dashboard = client.get("/gestion/etablissements/0140001A/").text
    assert "fr-links-group" not in dashboard and '<ul class="links"' not in dashboard
    header = _between(dashboard, '<header class="fr-header">', "</header>")
    assert "Collège Jean Moulin" in header and "0140001A" in header
    assert f"Connecté : Claire Martin ({secretary.email})" in header and "Se déconnecter" in header
    menu = _between(dashboard, '<nav class="fr-sidemenu"', "</nav>")
    links = re.findall(r'<a class="fr-sidemenu__link" href="([^"]+)"( aria-current="page")?>([^<]+)</a>', menu)
    assert [(href, label) for href, _, label in links] == [
        ("/gestion/etablissements/0140001A/", "Tableau de bord"),
        ("/gestion/etablissements/0140001A/import", "Importer les élèves"),
        ("/gestion/etablissements/0140001A/edition", "Éditer les comptes"),
        ("/gestion/", "Mes établissements"),
    ]
    assert [label for _, current, label in links if current] == ["Tableau de bord"]
    account = client.get(f"/gestion/etablissements/0140001A/comptes/{school['jean']}").text
    breadcrumb = _between(account, '<nav class="fr-breadcrumb', "</nav>")
    assert re.findall(r'<a class="fr-breadcrumb__link"( href="[^"]+")?( aria-current="page")?>([^<]+)</a>', breadcrumb) == [
        (' href="/gestion/"', "", "Mes établissements"),
        (' href="/gestion/etablissements/0140001A/"', "", "Collège Jean Moulin"),
        ("", ' aria-current="page"', "Compte jean.dupont1"),
    ]


def test_the_academie_home_lists_the_establishments_with_the_academie_menu(client, make_staff, school, clock):
    log_in(client, make_staff(email="rectorat@ac-normandie.example", role="academie"))
    home = client.get("/gestion/").text
    assert "Collège Jean Moulin" not in _between(home, '<header class="fr-header">', "</header>")  # no establishment's page
    assert re.findall(r'<a class="fr-breadcrumb__link"[^>]*>([^<]+)</a>', home) == ["Mes établissements"]
    assert re.findall(r'<h2 class="fr-tile__title"><a href="([^"]+)">([^<]+)</a></h2>', home) == [
        ("/gestion/etablissements/0140001A/", "Collège Jean Moulin"),
        ("/gestion/etablissements/0610002B/", "Lycée Marie Curie"),
    ]
    menu = _between(home, '<nav class="fr-sidemenu"', "</nav>")
    expected = ["Mes établissements", "Établissements", "Personnels", "Services connectés", "Services SAML"]
    assert re.findall(r'class="fr-sidemenu__link"[^>]*>([^<]+)</a>', menu) == expected
