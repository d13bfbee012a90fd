"""What an import reads before it refuses a file, through the import page and `idp pupils
import`: the byte limit (IMPORT_MAX_BYTES, counted as a zip unpacks), the row limit
(IMPORT_MAX_ROWS), control characters in a cell; a worker's memory while it reads a large
export; and the planner's statistics refreshed after an import (PostgreSQL)."""

import io
import json
import re
import tracemalloc
import zipfile

import pytest
from sqlalchemy import event, func, select, text

from idp.extensions import db
from idp.models import LegalGuardian, Pupil, PupilImport

from ..oidc_helpers import csrf_token
from .conftest import HEADER, log_in

IMPORT = "/gestion/etablissements/0140001A/import"
ROW = "E{0:05};Nom{0};Prénom;01/01/2012;6A;Parent{0};Marie;;1\n"


def rows(count):
    return HEADER + "".join(ROW.format(number) for number in range(count))


def zipped(name, content):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def export(pupils, padding=0):
    """A BEE_ELEVES export of 0140001A with `pupils` pupils, and `padding` bytes of spaces."""
    records = "".join(
        f'<ELEVE ELEVE_ID="{number}"><NOM_DE_FAMILLE>NOM{number}</NOM_DE_FAMILLE><PRENOM>Léa</PRENOM>'
        f"<DATE_NAISS>01/02/2012</DATE_NAISS></ELEVE>\n"
        for number in range(pupils)
    )
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<BEE_ELEVES><PARAMETRES><UAJ>0140001A</UAJ></PARAMETRES><DONNEES><ELEVES>\n'
        + records.encode()
        + b" " * padding
        + b"</ELEVES></DONNEES></BEE_ELEVES>\n"
    )


@pytest.fixture
def upload(client, secretary, establishment, clock):
    """upload((name, bytes), …): the import page's answer to these files, logged in as the secretary."""
    log_in(client, secretary)

    def post(*files):
        token = csrf_token(client.get(IMPORT).text)
        data = {"csrf_token": token, "files": [(io.BytesIO(content), name) for name, content in files]}
        return client.post(IMPORT, data=data, content_type="multipart/form-data")

    return post


@pytest.fixture
def command(app, establishment, tmp_path):
    """command(name, bytes): `idp pupils import` of this file; the result."""

    def run(name, content):
        path = tmp_path / name
        path.write_bytes(content)
        return app.test_cli_runner().invoke(args=["pupils", "import", str(path), "--establishment", "0140001A"])

    return run


def nothing_written(app):
    with app.app_context():
        return all(db.session.scalar(select(func.count()).select_from(model)) == 0 for model in (Pupil, LegalGuardian, PupilImport))


def problems(page):
    """(line, column, reason) of each problem the import page lists."""
    found = re.findall(r"<tr><td>[^<]*</td><td>(\d*)</td><td>([^<]*)</td><td>([^<]+)</td></tr>", page.text)
    return [(line, column, reason.replace("&#39;", "'")) for line, column, reason in found]


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(app, settings, upload, command):
    # (The test client sends a body over 500 KiB through a file it leaves open: below that.)
    app.config["IMPORT_MAX_BYTES"] = 200 * 1024
    data = rows(8000).encode()
    assert 400 * 1024 < len(data) < 500 * 1024
    page = upload(("eleves.csv", data))
    assert page.status_code == 422
    ((_line, _column, reason),) = problems(page)
    assert "le fichier pèse 0,4 Mo, plus que les 0,2 Mo qu'un fichier peut peser" in reason
    assert "rien n'a été importé" in page.text
    result = command("eleves.csv", data)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "eleves.csv : le fichier pèse" in result.output and "rien n'a été importé" in result.output
    assert nothing_written(app)


def test_a_zip_is_refused_once_what_it_unpacks_to_passes_the_limit(app, upload, command):
    app.config["IMPORT_MAX_BYTES"] = 1024 * 1024
    # What the archive says of its member is true here: it is refused without unpacking.
    bomb = zipped("ElevesSansAdresses.xml", export(3, padding=2 * 1024 * 1024))
    assert len(bomb) < 20 * 1024
    for answer in (upload(("ElevesSansAdresses.zip", bomb)).text, command("ElevesSansAdresses.zip", bomb).output):
        assert "l'archive dépasse 1 Mo une fois décompressée" in answer.replace("&#39;", "'")
    assert nothing_written(app)


def test_a_zip_that_understates_its_size_is_refused_without_unpacking_more(app, establishment):
    from idp.schools.files import read_files
    from idp.schools.records import ImportRefused, Limits

    bomb = bytearray(zipped("ElevesSansAdresses.xml", export(3, padding=2 * 1024 * 1024)))
    # The local header and the central directory say the member unpacks to 100 bytes.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = bytes(bomb).index(signature)
        bomb[start + offset : start + offset + 4] = (100).to_bytes(4, "little")
    with app.test_request_context(), pytest.raises(ImportRefused) as refused:
        read_files([("ElevesSansAdresses.zip", bytes(bomb))], "0140001A", limits=Limits(1024 * 1024, 1000))
    # Unpacking stops at the size said, whose checksum then fails.
    assert str(refused.value) == (
        "ElevesSansAdresses.zip : le fichier ElevesSansAdresses.xml de l'archive est illisible (chiffré ou abîmé)."
    )


def test_a_csv_over_the_row_limit_is_refused_at_the_first_row_too_many(app, upload, command):
    app.config["IMPORT_MAX_ROWS"] = 20
    data = rows(21).encode()
    page = upload(("eleves.csv", data))
    assert page.status_code == 422
    assert problems(page) == [
        (
            "22",
            "",
            "le fichier dépasse 20 lignes, le plus qu'un fichier puisse compter : vérifiez que c'est bien le fichier des élèves"
            " de l'établissement, ou importez-le en plusieurs fois (par niveau ou par classe).",
        )
    ]
    result = command("eleves.csv", data)
    assert result.exit_code == 1 and "eleves.csv, ligne 22 : le fichier dépasse 20 lignes" in result.output
    assert nothing_written(app)
    # At the limit, the file is imported.
    assert upload(("eleves.csv", rows(20).encode())).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Pupil)) == 20


def test_a_siecle_export_over_the_row_limit_is_refused(app, upload, command):
    app.config["IMPORT_MAX_ROWS"] = 20
    data = zipped("ElevesSansAdresses.xml", export(21))
    page = upload(("ElevesSansAdresses.zip", data))
    assert page.status_code == 422
    ((_line, _column, reason),) = problems(page)
    assert reason.startswith("l'export dépasse 20 fiches ELEVE")
    assert "l'export dépasse 20 fiches ELEVE" in command("ElevesSansAdresses.zip", data).output
    assert nothing_written(app)


def test_a_large_export_is_read_without_holding_it_in_memory(app, upload):
    # 20 MiB of XML that compress to a few KiB: read as it unpacks, a chunk at a time.
    data = zipped("ElevesSansAdresses.xml", export(3, padding=20 * 1024 * 1024))
    tracemalloc.start()
    try:
        page = upload(("ElevesSansAdresses.zip", data))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert page.status_code == 200, page.text
    assert re.search(r"élèves ajoutés</th><td>3</td>", page.text)
    assert peak < 12 * 1024 * 1024, f"{peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    ("row", "column", "code"),
    [
        ("E002;Mar\x00tin;Léo;01/02/2012;6A;;;;", "nom", "0000"),
        ("E002;Martin;Léo\x07;01/02/2012;6A;;;;", "prenom", "0007"),
        ("E002;Martin;Léo;01/02/2012;6A;Martin;Ana\x1f;;1", "prenom_responsable", "001F"),
        ("E002;Martin;Léo;01/02/2012;6\x9bA;;;;", "classe", "009B"),
    ],
    ids=["nul", "bell", "unit-separator", "c1-control"],
)
def test_control_characters_in_a_cell_are_refused_with_their_line(app, upload, command, row, column, code):
    data = f"{HEADER}E001;Dupont;Alice;04/05/2012;6A;;;;\n{row}\n".encode()
    page = upload(("eleves.csv", data))
    assert page.status_code == 422
    reason = f"contient un caractère de contrôle invisible (code U+{code}) : effacez-le dans le fichier, puis importez-le à nouveau."
    assert problems(page) == [("3", column, reason)]
    result = command("eleves.csv", data)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"eleves.csv, ligne 3, colonne {column} : {reason}" in result.output
    assert nothing_written(app)


def test_control_characters_in_a_siecle_export_are_refused_with_their_line(app, upload):
    data = export(2).replace(b"<PRENOM>L\xc3\xa9a</PRENOM>", b"<PRENOM>L&#x85;&#x90;a</PRENOM>", 1)
    page = upload(("ElevesSansAdresses.xml", data))
    assert page.status_code == 422
    assert problems(page) == [
        (
            "3",
            "PRENOM",
            "élève 0 : contient un caractère de contrôle invisible (code U+0085) : effacez-le dans le fichier, puis importez-le à nouveau.",
        )
    ]
    # Characters XML itself forbids make the document invalid, with its line.
    page = upload(("ElevesSansAdresses.xml", export(2).replace(b"NOM1<", b"NOM1\x01<")))
    assert [reason for _line, _column, reason in problems(page)] == ["ce n'est pas un document XML valide (erreur à la ligne 4)."]
    assert nothing_written(app)


def test_a_file_name_with_control_characters_is_kept_without_them(app, upload):
    assert upload(("ele\x00ves\x1b.csv", rows(2).encode())).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(PupilImport.filenames)) == "eleves.csv"


def test_an_import_refreshes_the_statistics_of_the_tables_it_filled(app, database_url, upload):
    statements = []
    with app.app_context():
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert upload(("eleves.csv", rows(30).encode())).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        analyzed = [statement for statement in statements if statement.startswith("ANALYZE")]
        if not database_url.startswith("postgresql"):
            assert analyzed == []
            return
        assert analyzed == ["ANALYZE pupil, legal_guardian"]
        # The planner now counts the rows the import wrote.
        for model in (Pupil, LegalGuardian):
            estimated = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :table"), {"table": model.__tablename__})
            assert estimated == db.session.scalar(select(func.count()).select_from(model)) == 30


def test_the_command_line_says_which_file_it_cannot_read(app, establishment, tmp_path):
    path = tmp_path / "eleves.csv"
    path.write_text(rows(1))
    path.chmod(0)
    try:
        readable = path.open("rb")  # root reads whatever the mode says
        readable.close()
        pytest.skip("this user reads files whatever their mode")
    except PermissionError:
        pass
    finally:
        path.chmod(0o600)
    result = app.test_cli_runner().invoke(args=["pupils", "import", str(path), "--establishment", "0140001A", "--json"])
    assert json.loads(result.output)["problems"][0]["reason"].startswith("le fichier ne peut pas être lu")
