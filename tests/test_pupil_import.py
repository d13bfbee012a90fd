"""Importing again: updates and never duplicates, pupils who leave and come back, legal
guardians replaced by the file's while the accounts issued for them are kept; the command
line; and an import of thousands of rows in a bounded number of SQL statements."""

import json
from datetime import date

import pytest
from sqlalchemy import event, func, select

from idp.extensions import db
from idp.models import Account, AccountKind, Establishment, Guardianship, LegalGuardian, Pupil, PupilImport, StaffMember
from idp.schools.establishments import add_establishment

from .school_helpers import FIXTURES, csv_file, fixture, importer, stored_pupils, zipped
from .travel import frozen, paris_time

SIECLE = ("ElevesSansAdresses.xml", "ResponsablesAvecAdresses.xml")
# The SIECLE exports of tests/fixtures are dated 10 September 2024, and an import measures
# their DATE_SORTIE against its own day: every test of this module stands on that day (an
# autouse fixture, set up before any other of the test), so that its application,
# establishment and accounts are made there too, never in its future.
EXPORT_DAY = date(2024, 9, 10)


@pytest.fixture(autouse=True)
def export_day():
    """Time stands at 10:00 in Paris on EXPORT_DAY until the test moves it (the traveller)."""
    with frozen(paris_time(EXPORT_DAY, "10:00")) as traveller:
        yield traveller


@pytest.fixture
def school(app, establishment):
    """school(files, complete=False, staff=None): import into 0140001A and commit, on
    EXPORT_DAY unless the test moves time."""
    return importer(app, establishment.uai)


def siecle(edit=None):
    """The current SIECLE exports, the guardians' one passed through `edit(text)`."""
    eleves, (name, data) = fixture(SIECLE[0]), fixture(SIECLE[1])
    text = data.decode("iso-8859-15")
    return [eleves, (name, (edit(text) if edit else text).encode("iso-8859-15"))]


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def issue(app, school_key, rank):
    """A parent account issued for a legal guardian, linked to the pupil (as issuing does); its id."""
    with app.app_context():
        guardian = db.session.scalar(select(LegalGuardian).join(Pupil).where(Pupil.school_key == school_key, LegalGuardian.rank == rank))
        account = Account(
            kind=AccountKind.PARENT,
            identifier=f"parent.{school_key}.{rank}",
            given_name=guardian.given_name,
            family_name=guardian.family_name,
        )
        account.guardianships.append(Guardianship(pupil=guardian.pupil))
        guardian.account = account
        db.session.commit()
        return account.id


def links(app, account_id):
    """(legal guardian row of the account or None, [school keys of its pupils])."""
    with app.app_context():
        guardian = db.session.scalar(select(LegalGuardian).where(LegalGuardian.account_id == account_id))
        account = db.session.get(Account, account_id)
        row = (guardian.id, guardian.rank, guardian.given_name, guardian.family_name, guardian.school_email) if guardian else None
        return row, [pupil.school_key for pupil in account.children]


def test_importing_the_same_files_again_changes_and_duplicates_nothing(school, app):
    first = school(siecle())
    again = school(siecle())
    assert first["pupils_created"] == 3
    assert again == dict.fromkeys(again, 0) | {"pupils_unchanged": 3}
    assert (count(app, Pupil), count(app, LegalGuardian), count(app, PupilImport)) == (3, 3, 2)
    csv = fixture("eleves-utf8-bom.csv")
    assert school([csv])["pupils_created"] == 3
    assert school([csv]) == dict.fromkeys(again, 0) | {"pupils_unchanged": 3}
    assert (count(app, Pupil), count(app, LegalGuardian)) == (6, 6)


def test_a_newer_file_updates_pupils_and_guardians(school, app):
    school(siecle())
    eleves = fixture(SIECLE[0])
    eleves = (eleves[0], eleves[1].replace(b"<CODE_STRUCTURE>6A</CODE_STRUCTURE>", b"<CODE_STRUCTURE>5A</CODE_STRUCTURE>"))
    guardians = siecle(lambda text: text.replace("jean.dupont@example.org", "jean@example.net"))[1]
    counts = school([eleves, guardians])
    assert (counts["pupils_updated"], counts["pupils_unchanged"], counts["guardians_updated"]) == (1, 2, 1)
    pupil = stored_pupils(app)["1001"]
    assert pupil[3] == "5A"
    assert pupil[6][0] == (1, "Jean", "DUPONT", "jean@example.net", "2001")


def test_a_past_date_sortie_marks_the_pupil_as_left(school, app, export_day):
    school(siecle())
    assert stored_pupils(app)["1002"][5] is None  # DATE_SORTIE 20/12/2024 is still to come
    export_day.move_to(paris_time(date(2025, 1, 6), "09:00"))
    counts = school(siecle())
    assert (counts["pupils_left"], counts["pupils_unchanged"]) == (1, 2)
    assert stored_pupils(app)["1002"][5] == date(2024, 12, 20)
    assert school(siecle())["pupils_unchanged"] == 3


def test_a_complete_import_marks_the_absent_as_left_a_partial_one_never(school, app, make_account):
    make_account()  # a parent created by hand, with a child the school files do not know
    rows = ["1;Dupont;Alice;04/05/2012;6A;;;;", "2;Martin;Léo;01/02/2012;6A;;;;", "3;Petit;Tom;03/03/2011;5B;;;;"]
    school([csv_file(*rows)])
    class_5b = csv_file(rows[2])
    assert school([class_5b])["pupils_left"] == 0
    assert {key: pupil[5] for key, pupil in stored_pupils(app).items()} == {"1": None, "2": None, "3": None}

    counts = school([class_5b], complete=True)
    assert (counts["pupils_left"], counts["pupils_unchanged"]) == (2, 1)
    assert {key: pupil[5] for key, pupil in stored_pupils(app).items()} == {"1": EXPORT_DAY, "2": EXPORT_DAY, "3": None}
    with app.app_context():
        assert db.session.scalar(select(Pupil.left_on).where(Pupil.school_key.is_(None))) is None
    assert school([class_5b], complete=True)["pupils_left"] == 0

    # Alice comes back: no longer left, counted as updated.
    counts = school([csv_file(rows[0], rows[2])])
    assert (counts["pupils_updated"], counts["pupils_left"]) == (1, 0)
    assert {key: pupil[5] for key, pupil in stored_pupils(app).items()} == {"1": None, "2": EXPORT_DAY, "3": None}


def test_a_guardian_still_there_keeps_its_row_and_account_when_renamed_or_reordered(school, app):
    school(siecle())
    jean = issue(app, "1001", 1)
    before, children = links(app, jean)
    assert children == ["1001"]

    def renamed_and_second(text):
        text = text.replace("<NOM_DE_FAMILLE>DUPONT</NOM_DE_FAMILLE>", "<NOM_DE_FAMILLE>DUPONT-MOREL</NOM_DE_FAMILLE>")
        first, second = "<PERSONNE_ID>2001</PERSONNE_ID>", "<PERSONNE_ID>2002</PERSONNE_ID>"
        return text.replace(first, "<SWAP>").replace(second, first).replace("<SWAP>", second)

    counts = school(siecle(renamed_and_second))
    assert (counts["guardians_updated"], counts["guardians_created"], counts["guardians_removed"]) == (2, 0, 0)
    after, children = links(app, jean)
    assert after == (before[0], 2, "Jean", "DUPONT-MOREL", "jean.dupont@example.org")
    assert children == ["1001"]
    assert stored_pupils(app)["1001"][6][0][1:3] == ("Marie", "DURAND")


def test_a_csv_guardian_is_the_same_person_whatever_the_case_and_accents(school, app):
    school([csv_file("1;Dupont;Alice;04/05/2012;6A;Lefèvre;Hélène;;1")])
    helene = issue(app, "1", 1)
    counts = school([csv_file("1;Dupont;Alice;04/05/2012;6A;LEFEVRE;helene;helene@example.org;1")])
    assert (counts["guardians_updated"], counts["guardians_removed"]) == (1, 0)
    assert links(app, helene) == ((links(app, helene)[0][0], 1, "helene", "LEFEVRE", "helene@example.org"), ["1"])


def test_a_guardian_who_is_gone_is_removed_and_its_account_loses_the_pupil(school, app, audit_events):
    school(siecle())
    marie = issue(app, "1001", 2)
    without_marie = siecle(lambda text: text.replace("<PERSONNE_ID>2002</PERSONNE_ID>", "<PERSONNE_ID>2004</PERSONNE_ID>", 1))
    counts = school(without_marie)
    # 2004 is Paul GARNIER: a new legal guardian of 1001 in Marie's place.
    assert (counts["guardians_removed"], counts["guardians_created"]) == (1, 1)
    assert links(app, marie) == (None, [])
    with app.app_context():
        assert db.session.get(Account, marie) is not None
    assert [(event.account_id, event.details["pupil_id"]) for event in audit_events("guardian_removed_by_import")] == [
        (marie, stored_pupil_id(app, "1001"))
    ]
    assert [guardian[1:3] for guardian in stored_pupils(app)["1001"][6]] == [("Jean", "DUPONT"), ("Paul", "GARNIER")]


def stored_pupil_id(app, school_key):
    with app.app_context():
        return db.session.scalar(select(Pupil.id).where(Pupil.school_key == school_key))


def test_a_pupil_without_legal_guardian_in_the_file_loses_the_stored_ones(school, app):
    school([csv_file("1;Dupont;Alice;04/05/2012;6A;Dupont;Jean;;1", "1;Dupont;Alice;04/05/2012;6A;Durand;Marie;;2")])
    counts = school([csv_file("1;Dupont;Alice;04/05/2012;6A;;;;")])
    assert (counts["pupils_unchanged"], counts["guardians_removed"]) == (1, 2)
    assert stored_pupils(app)["1"][6] == []


def test_each_import_is_recorded_with_its_staff_member_counts_and_audit(school, app, audit_events):
    with app.app_context():
        staff = StaffMember(email="secretariat@example.org", given_name="Anne", family_name="Leroy", role="etablissement")
        db.session.add(staff)
        db.session.commit()
        counts = importer(app, "0140001A")(siecle(), complete=True, staff=staff)
        record = db.session.scalar(select(PupilImport))
        assert (record.staff_id, record.source, record.complete, record.counts) == (staff.id, "siecle", True, counts)
        assert record.filenames == "ElevesSansAdresses.xml, ResponsablesAvecAdresses.xml"
    [audited] = audit_events("pupils_imported")
    assert audited.details["uai"] == "0140001A"
    assert audited.details["pupils_created"] == 3


def test_an_ine_already_known_in_another_establishment_does_not_stop_the_import(school, app):
    with app.app_context():
        college = add_establishment("0610002B", "Collège Jules Verne")
        alice = Pupil(given_name="Alice", family_name="DUPONT", birth_date=date(2012, 5, 4), ine="071234567AB", establishment=college)
        db.session.add(alice)
        db.session.commit()
    assert school(siecle())["pupils_created"] == 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Pupil.ine == "071234567AB")) == 2


def test_the_command_line_imports_the_zips_with_json_counts_or_text(app, establishment, tmp_path):
    paths = []
    for name in SIECLE:
        member = fixture(name)
        archive = tmp_path / name.replace(".xml", ".zip")
        archive.write_bytes(zipped(archive.name, member)[1])
        paths.append(str(archive))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["pupils", "import", *paths, "--establishment", "0140001A", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "pupils_created": 3,
        "pupils_updated": 0,
        "pupils_unchanged": 0,
        "pupils_left": 0,
        "guardians_created": 3,
        "guardians_updated": 0,
        "guardians_removed": 0,
    }
    csv = str(FIXTURES / "csv" / "eleves-utf8-bom.csv")
    result = runner.invoke(args=["pupils", "import", csv, "--establishment", "0140001a", "--full"])
    assert result.exit_code == 0, result.output
    assert "Élèves : 3 créés, 0 mis à jour, 0 inchangés, 3 partis" in result.stdout
    assert "Lecture de eleves-utf8-bom.csv" in result.stderr
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Pupil.left_on.is_not(None))) == 3


def test_the_command_line_refuses_an_unknown_establishment(app, establishment):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["pupils", "import", str(FIXTURES / "csv" / "eleves-utf8-bom.csv"), "--establishment", "0999999Z"])
    assert result.exit_code == 1
    assert "Établissement inconnu : 0999999Z" in result.output


def big_csv(pupils, class_prefix="6", swap=False):
    rows = []
    for index in range(pupils):
        pupil = f"{index};Nom{index};Prénom{index};04/05/2012;{class_prefix}{index % 8}"
        guardians = [f"Parent{index};Jean;jean{index}@example.org", f"Parent{index};Marie;"]
        ranks = (2, 1) if swap else (1, 2)
        rows.extend(f"{pupil};{guardian};{rank}" for guardian, rank in zip(guardians, ranks, strict=True))
    return csv_file(*rows)


def test_thousands_of_rows_import_in_a_bounded_number_of_statements(school, app):
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        counts = school([big_csv(2000)])
        created = len(statements)
        statements.clear()
        assert (counts["pupils_created"], counts["guardians_created"]) == (2000, 4000)
        # Every class changes and every pair of guardians swaps ranks.
        counts = school([big_csv(2000, class_prefix="5", swap=True)], complete=True)
        updated = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert (counts["pupils_updated"], counts["guardians_updated"], counts["pupils_left"]) == (2000, 4000, 0)
    assert created <= 30, created
    assert updated <= 30, updated
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LegalGuardian).where(LegalGuardian.rank == 1)) == 2000
        assert db.session.scalar(select(Establishment.uai)) == "0140001A"
