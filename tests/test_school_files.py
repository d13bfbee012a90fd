"""The school files as they really come: SIECLE exports of both generations, as .xml or in
their .zip, CSVs from any spreadsheet; and every way a file is refused (bad rows with their
line numbers, another establishment's export, an XML bomb, a zip bomb), writing nothing."""

import json
from datetime import date

import pytest

from idp.extensions import db
from idp.models import AuditEvent, LegalGuardian, Pupil, PupilImport
from idp.schools.files import read_files
from idp.schools.imports import ImportRefused
from idp.schools.records import GuardianRecord, email_problem

from .school_helpers import HEADER, csv_file, fixture, importer, stored_pupils, zipped
from .travel import frozen, paris_time

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
    """school(files, complete=False): import into 0140001A (on EXPORT_DAY) and commit; the
    counts, or the ImportRefused."""
    return importer(app, establishment.uai)


@pytest.fixture
def stored(app):
    return lambda: stored_pupils(app)


def nothing_written(app):
    with app.app_context():
        return all(db.session.scalar(db.select(db.func.count()).select_from(table)) == 0 for table in (Pupil, LegalGuardian, PupilImport))


def problems(refused):
    assert isinstance(refused, ImportRefused), refused
    return [(problem.file, problem.line, problem.column) for problem in refused.problems]


def test_current_siecle_exports_give_pupils_classes_and_legal_guardians_only(school, stored):
    counts = school([fixture("ElevesSansAdresses.xml"), fixture("ResponsablesAvecAdresses.xml")])
    assert counts == {
        "pupils_created": 3,
        "pupils_updated": 0,
        "pupils_unchanged": 0,
        "pupils_left": 0,
        "guardians_created": 3,
        "guardians_updated": 0,
        "guardians_removed": 0,
    }
    assert stored() == {
        # The class is the division (type D), not a group; both legal guardians (level 1).
        "1001": (
            "Alice",
            "DUPONT",
            date(2012, 5, 4),
            "6A",
            "071234567AB",
            None,
            [(1, "Jean", "DUPONT", "jean.dupont@example.org", "2001"), (2, "Marie", "DURAND", None, "2002")],
        ),
        # ISO-8859-15: Œ is not Latin-1's ¼. A person in charge (level 2) gets no account; a
        # malformed MEL is dropped; a DATE_SORTIE still to come leaves the pupil here.
        "1002": ("Zoé", "BŒUF", date(2011, 11, 12), "5B", "071234568BC", None, [(1, "François", "BŒUF", None, "2003")]),
        # No INE; a contact (level 3) is not a legal guardian.
        "1004": ("Chloé", "LEFÈVRE", date(2011, 6, 30), "5B", None, None, []),
    }
    # 1003 left in July (DATE_SORTIE in the past) before ever being imported: not created.


def test_older_siecle_exports_name_legal_guardians_with_resp_legal(school, stored):
    counts = school([fixture("ElevesSansAdresses-2015.xml"), fixture("ResponsablesAvecAdresses-2015.xml")])
    assert (counts["pupils_created"], counts["guardians_created"]) == (2, 3)
    assert stored() == {
        "501": (
            "Maël",
            "LE GALL",
            date(2004, 3, 17),
            "6EME2",
            "050123456AA",
            None,
            # RESP_LEGAL gives the rank, whatever the order of the file.
            [(1, "Yann", "LE GALL", "yann.legall@example.org", "3001"), (2, "Nolwenn", "LE GALL", None, "3002")],
        ),
        # RESP_LEGAL 0: not a legal guardian.
        "502": ("Inès", "HERVÉ", date(2003, 10, 2), "5EME1", "050123457BB", None, [(1, "Marc", "HERVÉ", "marc.herve@example.org", "3003")]),
    }


def test_siecle_zips_as_downloaded_import_like_their_xml(school, stored):
    eleves, responsables = fixture("ElevesSansAdresses.xml"), fixture("ResponsablesAvecAdresses.xml")
    counts = school([zipped("ElevesSansAdresses.zip", eleves), zipped("ResponsablesAvecAdresses.zip", responsables)])
    assert (counts["pupils_created"], counts["guardians_created"]) == (3, 3)
    from_zip = stored()
    assert set(from_zip) == {"1001", "1002", "1004"}
    assert school([eleves, responsables])["pupils_unchanged"] == 3
    assert stored() == from_zip


def test_pupils_export_alone_leaves_the_guardians_as_they_are(school, stored):
    school([fixture("ElevesSansAdresses.xml"), fixture("ResponsablesAvecAdresses.xml")])
    counts = school([fixture("ElevesSansAdresses.xml")])
    assert counts["guardians_removed"] == 0
    assert len(stored()["1001"][6]) == 2


def test_export_of_another_establishment_is_refused(school, app):
    name, data = fixture("ElevesSansAdresses.xml")
    refused = school([(name, data.replace(b"<UAJ>0140001A</UAJ>", b"<UAJ>0610002B</UAJ>"))])
    assert problems(refused) == [(name, None, "UAJ")]
    assert "0610002B" in refused.problems[0].reason and "0140001A" in refused.problems[0].reason
    assert nothing_written(app)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE BEE_ELEVES [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<BEE_ELEVES><PARAMETRES><UAJ>0140001A</UAJ></PARAMETRES><DONNEES><ELEVES>
<ELEVE ELEVE_ID="1"><NOM_DE_FAMILLE>&lol9;</NOM_DE_FAMILLE><PRENOM>A</PRENOM><DATE_NAISS>01/01/2012</DATE_NAISS></ELEVE>
</ELEVES></DONNEES></BEE_ELEVES>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE BEE_RESPONSABLES [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<BEE_RESPONSABLES><PARAMETRES><UAJ>0140001A</UAJ></PARAMETRES><DONNEES><PERSONNES>
<PERSONNE PERSONNE_ID="1"><NOM>&secret;</NOM><PRENOM>A</PRENOM></PERSONNE>
</PERSONNES></DONNEES></BEE_RESPONSABLES>
"""


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["xml-bomb", "external-entity"])
def test_xml_bomb_and_external_entity_are_refused_with_a_clear_message(school, app, content):
    refused = school([("ElevesSansAdresses.xml", content)])
    assert problems(refused) == [("ElevesSansAdresses.xml", None, None)]
    assert "refusé par sécurité" in refused.problems[0].reason
    assert "root:" not in str(refused)
    # The same inside the zip it would come in.
    assert problems(school([zipped("ElevesSansAdresses.zip", ("ElevesSansAdresses.xml", content))])) == [
        ("ElevesSansAdresses.zip/ElevesSansAdresses.xml", None, None)
    ]
    assert nothing_written(app)


def test_malformed_xml_is_refused_with_its_line(school):
    refused = school([("ElevesSansAdresses.xml", b'<?xml version="1.0"?>\n<BEE_ELEVES>\n<PARAMETRES>\n</BEE_ELEVES>\n')])
    assert problems(refused) == [("ElevesSansAdresses.xml", None, None)]
    assert "ligne 4" in refused.problems[0].reason


def test_bad_pupils_of_a_siecle_export_are_all_listed_with_their_xml_line(school, app):
    name, data = fixture("ElevesSansAdresses.xml")
    text = data.decode("iso-8859-15")
    text = text.replace("<DATE_NAISS>04/05/2012</DATE_NAISS>", "<DATE_NAISS>31/02/2012</DATE_NAISS>")
    text = text.replace("<PRENOM>Chloé</PRENOM>", "<PRENOM></PRENOM>")
    text = text.replace("<ID_NATIONAL>071234568BC</ID_NATIONAL>", "<ID_NATIONAL>071234567AB</ID_NATIONAL>")
    refused = school([(name, text.encode("iso-8859-15"))])
    lines = text.splitlines()
    line_of = {key: lines.index(next(line for line in lines if f'<ELEVE ELEVE_ID="{key}"' in line)) + 1 for key in ("1001", "1002", "1004")}
    assert problems(refused) == [
        (name, line_of["1001"], "DATE_NAISS"),
        (name, line_of["1002"], "ID_NATIONAL"),
        (name, line_of["1004"], "PRENOM"),
    ]
    assert "1001" in refused.problems[0].reason and "31/02/2012" in refused.problems[0].reason
    assert nothing_written(app)


def test_guardians_export_needs_its_pupils_export(school, app):
    refused = school([fixture("ResponsablesAvecAdresses.xml")])
    assert problems(refused) == [(None, None, None)]
    assert "ElevesSansAdresses" in refused.problems[0].reason
    assert nothing_written(app)


def test_unknown_xml_is_refused(school):
    refused = school([("export.xml", b"<?xml version='1.0'?><EXPORT/>")])
    assert "EXPORT" in refused.problems[0].reason


def test_zip_bomb_stops_at_the_size_limit(school, app):
    app.config["IMPORT_MAX_BYTES"] = 1024 * 1024
    # 16 MiB of spaces compress to about 16 KiB.
    bomb = zipped("ElevesSansAdresses.zip", ("ElevesSansAdresses.xml", b" " * (16 * 1024 * 1024)))
    assert len(bomb[1]) < 1024 * 1024
    refused = school([bomb])
    assert problems(refused) == [("ElevesSansAdresses.zip", None, None)]
    assert "1 Mo" in refused.problems[0].reason
    # Many members that each fit but together do not: what each unpacked to is counted.
    export = b"<BEE_ELEVES><PARAMETRES><UAJ>0140001A</UAJ></PARAMETRES>%s</BEE_ELEVES>" % (b" " * (300 * 1024))
    members = [(f"part{index}.xml", export) for index in range(4)]
    refused = school([zipped("parts.zip", *members)])
    assert "l'archive dépasse 1 Mo une fois décompressée" in refused.problems[-1].reason
    assert nothing_written(app)


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        (("eleves.zip", b"PK\x03\x04 not really a zip"), "illisible"),
        (zipped("eleves.xlsx", ("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>")), "classeur"),
        (zipped("double.zip", ("inner.zip", zipped("inner.zip", fixture("ElevesSansAdresses.xml"))[1])), "archive dans une archive"),
        (zipped("vide.zip"), "vide"),
    ],
    ids=["broken", "workbook", "nested", "empty"],
)
def test_unusable_archives_are_refused(school, app, upload, words):
    refused = school([upload])
    assert words in str(refused)
    assert nothing_written(app)


def test_csv_with_bom_and_semicolons_and_windows_csv_with_commas_and_iso_dates(school, stored):
    counts = school([fixture("eleves-utf8-bom.csv")])
    assert (counts["pupils_created"], counts["guardians_created"]) == (3, 3)
    assert stored() == {
        "E001": (
            "Alice",
            "Dupont",
            date(2012, 5, 4),
            "6A",
            None,
            None,
            [(1, "Jean", "Dupont", "jean.dupont@example.org", None), (2, "Marie", "Durand", None, None)],
        ),
        "E002": ("Zoé", "Bœuf", date(2011, 11, 12), "5B", None, None, [(1, "François", "Bœuf", "francois.boeuf@example.org", None)]),
        "E003": ("Chloé", "Lefèvre", date(2011, 6, 30), "5B", None, None, []),
    }
    counts = school([fixture("eleves-windows-1252.csv")])
    assert counts == {
        "pupils_created": 0,
        "pupils_updated": 2,
        "pupils_unchanged": 1,
        "pupils_left": 0,
        "guardians_created": 1,
        "guardians_updated": 0,
        "guardians_removed": 1,
    }
    now = stored()
    assert now["E002"][:2] == ("Zoé", "Lefèvre")
    assert now["E002"][6] == [(1, "François", "Lefèvre", "francois.lefevre@example.org", None)]
    assert now["E003"][1] == "Cœurdevey"


def test_csv_in_every_encoding_and_separator_a_spreadsheet_uses(app):
    header = " ID_Eleve ; Nom;PRENOM;Date_Naissance;classe;nom_responsable;prenom_responsable;email_responsable;Rang_Responsable;;"
    rows = ["7;Hervé;Maëlys;2012-01-09;CM2 B;Hervé;Noël;noel@example.org;1", "8;Œuvray;Zoé;9/1/2013;;;;;"]
    with app.app_context():
        for encoding in ("utf-8", "utf-8-sig", "cp1252", "utf-16"):
            for separator in (";", ",", "\t"):
                text = "\n".join([header, *rows]).replace(";", separator)
                data = read_files([("eleves.csv", text.encode(encoding))], "0140001A")
                assert [(p.school_key, p.given_name, p.family_name, p.birth_date, p.class_name) for p in data.pupils.values()] == [
                    ("7", "Maëlys", "Hervé", date(2012, 1, 9), "CM2 B"),
                    ("8", "Zoé", "Œuvray", date(2013, 1, 9), None),
                ], (encoding, separator)
                assert data.guardians == {"7": [GuardianRecord(1, "Noël", "Hervé", "noel@example.org")], "8": []}


def test_names_typed_with_decomposed_accents_are_stored_composed(app):
    with app.app_context():
        data = read_files([csv_file("1;Ho\u0308fer;Le\u0301a;01/02/2012;6A;Ho\u0308fer;Jo\u0308rg;;1")], "0140001A")
    assert (data.pupils["1"].given_name, data.pupils["1"].family_name) == ("Léa", "Höfer")
    assert data.guardians["1"][0].given_name == "Jörg"


def test_csv_with_bad_rows_is_refused_whole_with_each_line_column_and_reason(school, app):
    rows = [
        HEADER,
        "1;Dupont;Alice;04/05/2012;6A;Dupont;Jean;jean@example.org;1",
        "2;Martin;;31/02/2012;6A;;;;",
        "3;Durand;Léa;01/02/2012;6B;Durand;Paul;paul.durand@;3",
        "1;Dupont;Alice;04/05/2012;6A;Dupont;Marie;;1",
        "",
        "4;Petit;Tom;2012-13-01;6B;Petit;;;2",
        "1;Dupond;Alice;04/05/2012;6A;Dupont;Marie;;2",
        "5;Roux;Lou;01/02/2099;6B;;;;",
    ]
    refused = school([("eleves.csv", "\r\n".join(rows).encode())])
    assert [(line, column) for _file, line, column in problems(refused)] == [
        (3, "prenom"),
        (3, "date_naissance"),
        (4, "email_responsable"),
        (4, "rang_responsable"),
        (5, "rang_responsable"),
        (7, "date_naissance"),
        (7, "prenom_responsable"),
        (8, "nom"),
        (9, "date_naissance"),
    ]
    reasons = [problem.reason for problem in refused.problems]
    assert "31/02/2012" in reasons[1]
    assert "paul.durand@" in reasons[2]
    assert "1 ou 2" in reasons[3]
    assert "ligne 2" in reasons[4]
    assert "ligne 2" in reasons[7]
    assert "futur" in reasons[8]
    assert str(refused.problems[0]) == "eleves.csv, ligne 3, colonne prenom : le prénom est obligatoire."
    assert nothing_written(app)


@pytest.mark.parametrize(
    ("cell", "refused"),
    [
        ("jean.dupont@example.org", False),
        ("jean@mail.example.fr", False),
        ("paul.durand@", True),
        ("paul@example", True),  # the syntax of every address (idp.accounts.addresses)
        ("a" * 250 + "@x.fr", True),
        ("jean@example.org;marie@example.org", True),  # a cell holds one address
        ("jean@example.org,marie@example.org", True),
        ("Jean Dupont <jean@example.org>", True),
        ("jean@example.org.", True),
        ("é@é.é", True),  # the mailer cannot send to these
        ("😀@x.fr", True),
        ("\u202e@x.fr", True),
        ("<script>@x.fr", True),
        ("jean@exemple-é.fr", False),  # stored in ASCII
    ],
)
def test_a_guardian_email_cell_holds_one_bare_address(app, cell, refused):
    with app.test_request_context():
        assert (email_problem(cell) is not None) is refused


def test_a_csv_guardian_address_the_mailer_cannot_send_to_refuses_the_file_with_its_line(school, app):
    rows = [
        HEADER,
        "1;Dupont;Alice;04/05/2012;6A;Dupont;Jean;é@é.é;1",
        "2;Martin;Léo;04/05/2012;6A;Martin;Paul;\u202e@x.fr;1",
        "3;Durand;Léa;01/02/2012;6B;Durand;Marie;marie@exemple-é.fr;1",
    ]
    refused = school([("eleves.csv", "\r\n".join(rows).encode())])
    assert [(line, column) for _file, line, column in problems(refused)] == [(2, "email_responsable"), (3, "email_responsable")]
    assert str(refused.problems[0]) == "eleves.csv, ligne 2, colonne email_responsable : « é@é.é » n'est pas une adresse électronique."
    # The bidi override is quoted, not applied to the message.
    assert refused.problems[1].reason == "« \\u202e@x.fr » n'est pas une adresse électronique."
    assert nothing_written(app)


def test_a_guardian_address_with_an_international_domain_is_stored_in_ascii(school, app):
    school([("eleves.csv", f"{HEADER}\n1;Durand;Léa;01/02/2012;6B;Durand;Marie;marie@exemple-é.fr;1\n".encode())])
    with app.app_context():
        assert db.session.scalar(db.select(LegalGuardian.school_email)) == "marie@xn--exemple--i1a.fr"


def test_csv_header_must_be_the_documented_one(school):
    refused = school([("eleves.csv", b"id_eleve;nom;prenom;naissance;classe\n1;A;B;01/01/2012;6A\n")])
    assert HEADER in refused.problems[0].reason
    columns = {problem.column for problem in refused.problems[1:]}
    assert {"date_naissance", "nom_responsable", "rang_responsable", "naissance"} <= columns


def test_csv_in_an_unknown_encoding_is_refused(school):
    refused = school([("eleves.csv", HEADER.encode() + b"\n1;\x81\x8d;A;01/01/2012;6A;;;;\n")])
    assert "encodage" in refused.problems[0].reason


def test_a_pupil_in_two_csv_files_is_refused(school, app):
    first = ("6A.csv", f"{HEADER}\n1;Dupont;Alice;04/05/2012;6A;;;;\n".encode())
    second = ("6B.csv", f"{HEADER}\n2;Martin;Léo;04/05/2012;6B;;;;\n1;Dupont;Alice;04/05/2012;6A;;;;\n".encode())
    assert problems(school([first, second])) == [("6B.csv", 3, "id_eleve")]
    assert nothing_written(app)
    assert school([first, ("6B.csv", f"{HEADER}\n2;Martin;Léo;04/05/2012;6B;;;;\n".encode())])["pupils_created"] == 2


def test_csv_and_siecle_together_are_refused(school):
    refused = school([fixture("eleves-utf8-bom.csv"), fixture("ElevesSansAdresses.xml")])
    assert "pas les deux" in str(refused)


def test_refused_import_from_the_command_line_lists_the_rows_and_exits_1(app, establishment, tmp_path):
    path = tmp_path / "eleves.csv"
    path.write_text(f"{HEADER}\n1;Dupont;Alice;04/05/2012;6A;;;;\n2;Martin;Léo;2012;6A;;;;\n", encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["pupils", "import", str(path), "--establishment", "0140001A", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "problems": [
            {
                "file": "eleves.csv",
                "line": 3,
                "column": "date_naissance",
                "reason": "« 2012 » n'est pas une date (JJ/MM/AAAA ou AAAA-MM-JJ).",
            }
        ]
    }
    result = runner.invoke(args=["pupils", "import", str(path), "--establishment", "0140001A"])
    assert result.exit_code == 1
    assert "eleves.csv, ligne 3, colonne date_naissance" in result.output
    assert "rien n'a été importé" in result.output
    assert nothing_written(app)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == 0


def edited(name, *replacements):
    """A fixture export with its text replaced, as an upload."""
    name, data = fixture(name)
    text = data.decode("iso-8859-15")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return name, text.encode("iso-8859-15")


def test_a_legal_guardian_with_a_control_character_is_refused_a_contact_is_not(school, app):
    eleves = fixture("ElevesSansAdresses.xml")
    # PERSONNE 2001 is Alice's legal guardian; the contact of 1004 (level 3) gets no account.
    refused = school([eleves, edited("ResponsablesAvecAdresses.xml", ("<PRENOM>Jean</PRENOM>", "<PRENOM>Je&#x9B;an</PRENOM>"))])
    assert problems(refused) == [("ResponsablesAvecAdresses.xml", 11, "PRENOM")]
    assert refused.problems[0].reason.startswith("responsable 2001 : contient un caractère de contrôle invisible (code U+009B)")
    assert nothing_written(app)
    counts = school([eleves, edited("ResponsablesAvecAdresses.xml", ("<PRENOM>Paul</PRENOM>", "<PRENOM>Pa&#x9B;ul</PRENOM>"))])
    assert counts["guardians_created"] == 3


def test_a_guardians_export_with_wrong_links_lists_them(school, app):
    eleves = fixture("ElevesSansAdresses.xml")
    moved = "<ELEVE_ID>1002</ELEVE_ID>\n        <PERSONNE_ID>2003</PERSONNE_ID>"
    cases = [
        ((moved, moved.replace("1002", "1001")), "l'élève 1001 a plus de deux responsables légaux, ou deux de même rang."),
        (("<NOM_DE_FAMILLE>BŒUF</NOM_DE_FAMILLE>", "<NOM_DE_FAMILLE></NOM_DE_FAMILLE>"), "responsable 2003 : le nom est obligatoire."),
        (
            ("<PERSONNE_ID>2002</PERSONNE_ID>", "<PERSONNE_ID>9999</PERSONNE_ID>"),
            "le responsable légal 9999 de l'élève 1001 n'est pas dans PERSONNES.",
        ),
    ]
    for replacement, reason in cases:
        refused = school([eleves, edited("ResponsablesAvecAdresses.xml", replacement)])
        assert [problem.reason for problem in refused.problems] == [reason]
    assert nothing_written(app)


def test_a_class_name_with_a_control_character_is_refused(school):
    refused = school(
        [edited("ElevesSansAdresses.xml", ("<CODE_STRUCTURE>6A</CODE_STRUCTURE>", "<CODE_STRUCTURE>6&#x80;A</CODE_STRUCTURE>"))]
    )
    assert [problem.column for problem in refused.problems] == ["CODE_STRUCTURE"]
    assert "U+0080" in refused.problems[0].reason


def test_a_document_nested_deeper_than_any_export_is_refused(school):
    nested = b"<BEE_ELEVES>" + b"<A>" * 20 + b"</A>" * 20 + b"</BEE_ELEVES>"
    refused = school([("ElevesSansAdresses.xml", nested)])
    assert "n'a pas la forme d'un export SIECLE" in refused.problems[0].reason


def test_the_problems_of_a_file_stop_at_two_hundred(school):
    rows = [f"{number};Dupont;;04/05/2012;6A;;;;" for number in range(300)]
    refused = school([csv_file(*rows)])
    assert len(refused.problems) == 201
    assert refused.problems[-1].reason.startswith("200 problèmes : la lecture du fichier s'arrête là.")


def test_unreadable_csv_lines_are_refused_with_their_line(school):
    too_long = school([csv_file("1;Dupont;Alice;04/05/2012;6A;;;;", "2;" + "x" * 20_000 + ";A;04/05/2012;6A;;;;")])
    assert [problem.line for problem in too_long.problems] == [3]
    assert too_long.problems[0].reason.startswith("la ligne dépasse 10\u202f000 caractères")
    # A quotation mark left open: the cell runs on, line after line, past what a cell may hold.
    unclosed = school([csv_file("1;Dupont;Alice;04/05/2012;6A;;;;", '2;"Martin' + "\nx" * 70_000)])
    assert unclosed.problems[0].reason.startswith("ligne illisible : un guillemet ouvert n'est pas refermé")


def test_siecle_civilities_are_kept_for_the_letters_and_a_csv_keeps_them(school, app):
    school([fixture("ElevesSansAdresses.xml"), fixture("ResponsablesAvecAdresses.xml")])
    with app.app_context():
        civilities = dict(db.session.execute(db.select(LegalGuardian.given_name, LegalGuardian.civility)).all())
    # LC_CIVILITE « M. » and « MME »: Marie Durand is « Responsable légale » on her letter.
    assert civilities == {"Jean": "M.", "Marie": "MME", "François": "M."}
