"""`idp accounts issue|show|regenerate|refuse|unrefuse` as the issue scripts them."""

import json

import pytest

from idp.extensions import db
from idp.models import Account

from .issuing_helpers import add_pupil, page_value, pdf_pages


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))

    return invoke


@pytest.fixture
def school(app, establishment):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont"), ("Marie", "Dupont")])
    add_pupil(app, "0140001A", "Marc", "Petit", "5B", [("Paul", "Petit")])


def test_issue_prints_the_issued_accounts_and_writes_the_letters(run, school, tmp_path):
    letters = tmp_path / "lettres.pdf"
    result = run("accounts", "issue", "--establishment", "0140001A", "--class", "6A", "--letters", str(letters), "--json")
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)["issued"]
    assert [(each["identifier"], each["kind"]) for each in issued] == [
        ("alice.dupont1", "eleve"),
        ("jean.dupont1", "parent"),
        ("marie.dupont1", "parent"),
    ]
    for each in issued:
        assert set(each) == {"identifier", "sub", "kind", "pupil"}
        assert each["pupil"] == {"given_name": "Alice", "family_name": "Dupont", "class": "6A", "uai": "0140001A"}
        assert len(each["sub"]) == 32
    pages = pdf_pages(letters.read_bytes())
    assert [page_value(text, "Identifiant") for text in pages] == [each["identifier"] for each in issued]
    secrets = [page_value(text, "Mot de passe provisoire") for text in pages]
    assert not any(secret in result.output for secret in secrets)
    assert not list(tmp_path.glob("*.part"))


def test_issue_by_kind_and_nothing_left_to_issue(run, school, tmp_path):
    result = run("accounts", "issue", "--establishment", "0140001A", "--kind", "eleve", "--letters", str(tmp_path / "a.pdf"), "--json")
    assert sorted(each["identifier"] for each in json.loads(result.output)["issued"]) == ["alice.dupont1", "marc.petit1"]
    result = run("accounts", "issue", "--establishment", "0140001A", "--kind", "eleve", "--letters", str(tmp_path / "b.pdf"))
    assert result.exit_code == 0
    assert "Aucun compte à émettre" in result.output
    assert not (tmp_path / "b.pdf").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--establishment", "9999999Z"], "Établissement inconnu"),
        (["--establishment", "0140001A", "--class", "6Z"], "Classe inconnue"),
    ],
)
def test_bad_issue_input_is_refused_and_issues_nothing(run, app, school, tmp_path, args, message):
    result = run("accounts", "issue", *args, "--letters", str(tmp_path / "x.pdf"))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Account.id))) == 0


def test_letters_that_cannot_be_written_issue_nothing(run, app, school, tmp_path):
    result = run("accounts", "issue", "--establishment", "0140001A", "--letters", str(tmp_path / "missing" / "x.pdf"))
    assert result.exit_code == 1
    assert "Impossible d'écrire les lettres" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Account.id))) == 0


def test_show_regenerate_refuse_and_unrefuse(run, school, tmp_path):
    run("accounts", "issue", "--establishment", "0140001A", "--letters", str(tmp_path / "a.pdf"))
    shown = json.loads(run("accounts", "show", "jean.dupont1", "--json").output)
    assert shown == {
        "identifier": "jean.dupont1",
        "sub": shown["sub"],
        "kind": "parent",
        "state": "issued",
        "email": None,
        "refused": False,
        "pupils": [{"given_name": "Alice", "family_name": "Dupont", "class": "6A", "uai": "0140001A"}],
    }

    result = run("accounts", "regenerate", "jean.dupont1", "--letters", str(tmp_path / "new.pdf"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sub"] == shown["sub"]
    (text,) = pdf_pages((tmp_path / "new.pdf").read_bytes())
    assert page_value(text, "Identifiant") == "jean.dupont1"
    assert page_value(text, "Mot de passe provisoire") not in result.output

    assert run("accounts", "refuse", "jean.dupont1").exit_code == 0
    assert json.loads(run("accounts", "show", "jean.dupont1", "--json").output)["refused"] is True
    assert "déjà" in run("accounts", "refuse", "jean.dupont1").output
    assert json.loads(run("accounts", "unrefuse", "jean.dupont1", "--json").output)["refused"] is False
    assert "alice.dupont1 (eleve) : issued" in run("accounts", "show", "alice.dupont1").output


def test_unknown_identifier_is_a_clear_error(run, establishment, tmp_path):
    letters = str(tmp_path / "x.pdf")
    for args in (["show", "nobody.here1"], ["refuse", "nobody.here1"], ["regenerate", "nobody.here1", "--letters", letters]):
        result = run("accounts", *args)
        assert result.exit_code == 1
        assert "Compte inconnu : 'nobody.here1'" in result.output


def test_issue_writes_one_file_per_batch_and_commits_each(run, app, school, tmp_path):
    app.config["LETTERS_PER_FILE"] = 2
    letters = tmp_path / "lettres.pdf"
    result = run("accounts", "issue", "--establishment", "0140001A", "--letters", str(letters), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # 5B (Marc and Paul) fits in one file; 6A (Alice and her two parents) is cut in two.
    names = ["lettres.pdf", "lettres-2.pdf", "lettres-3.pdf"]
    assert data["letters"] == [str(tmp_path / name) for name in names]
    printed = [[page_value(text, "Identifiant") for text in pdf_pages((tmp_path / name).read_bytes())] for name in names]
    assert printed == [["marc.petit1", "paul.petit1"], ["alice.dupont1", "jean.dupont1"], ["marie.dupont1"]]
    assert [each["identifier"] for each in data["issued"]] == [identifier for page in printed for identifier in page]
    result = run("accounts", "issue", "--establishment", "0140001A", "--letters", str(letters))
    assert "Aucun compte à émettre" in result.output
