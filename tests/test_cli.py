"""The `idp` command as operators script it: establishments, accounts, relying parties."""

import json

import pytest

from idp.extensions import db
from idp.models import Account, Client


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))

    return invoke


def test_the_scripted_setup_of_the_issue(run, app):
    assert run("establishment", "add", "--uai", "0140001A", "--name", "Collège Jean Moulin").exit_code == 0
    result = run(
        "account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont",
        "--email", "jean@example.org", "--password", "S3cret-pass", "--establishment", "0140001A",
        "--child-given-name", "Alice", "--child-family-name", "Dupont", "--child-birthdate", "2012-05-04", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["identifier"] == "jean.dupont1"
    assert len(created["sub"]) == 32
    result = run(
        "client", "add", "--name", "L'Educ de Normandie", "--category", "ent", "--trusted",
        "--redirect-uri", "http://127.0.0.1:8765/cb", "--post-logout-redirect-uri", "http://127.0.0.1:8765/logout-cb",
        "--auth-method", "client_secret_basic", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    registered = json.loads(result.output)
    assert set(registered) == {"client_id", "client_secret"}
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == registered["client_id"]))
        assert client.trusted and client.category == "ent"
        assert registered["client_secret"] not in (client.secret_hash or "")
        assert client.check_client_secret(registered["client_secret"])
        account = db.session.scalar(db.select(Account).where(Account.identifier == "jean.dupont1"))
        assert [child.full_name for child in account.children] == ["Alice Dupont"]


def test_second_homonym_gets_the_next_number(run, establishment):
    for expected in ("jean.dupont1", "jean.dupont2"):
        result = run(
            "account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont",
            "--password", "S3cret-pass", "--establishment", "0140001A", "--json",
        )  # fmt: skip
        assert json.loads(result.output)["identifier"] == expected


def test_accented_names_make_ascii_identifiers(run, establishment):
    result = run(
        "account", "create", "--kind", "eleve", "--given-name", "Zoé", "--family-name", "Le Gall-Hervé",
        "--password", "Cartable-2024", "--establishment", "0140001A", "--birthdate", "2011-02-03", "--json",
    )  # fmt: skip
    assert json.loads(result.output)["identifier"] == "zoe.legall-herve1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "http://example.org/cb"], "http n'est admis que sur"),
        (["--redirect-uri", "not a uri"], "malformé"),
        (["--redirect-uri", "https://rp.example.org/cb#frag"], "fragment"),
        (["--redirect-uri", "https://rp.example.org/cb", "--scope", "openid", "--scope", "phone"], "scope inconnu : phone"),
        (["--redirect-uri", "https://rp.example.org/cb", "--scope", "profile"], "openid est obligatoire"),
        (["--redirect-uri", "https://rp.example.org/cb", "--post-logout-redirect-uri", "ftp://x/"], "malformé"),
    ],
)
def test_bad_client_input_is_refused_and_changes_nothing(run, app, args, message):
    result = run("client", "add", "--name", "Service", "--category", "teleservice", *args)
    assert result.exit_code == 1
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Client)) == 0


def test_unknown_auth_method_and_category_are_refused(run):
    result = run("client", "add", "--name", "S", "--category", "banque", "--redirect-uri", "https://x.example/cb")
    assert result.exit_code == 2
    assert "banque" in result.output


def test_bad_account_input_is_refused(run, establishment):
    base = ["account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont", "--establishment"]
    assert "établissement inconnu" in run(*base, "0149999Z", "--password", "S3cret-pass").output
    assert "UAI invalide" in run(*base, "123", "--password", "S3cret-pass").output
    assert "chiffres et des lettres" in run(*base, "0140001A", "--password", "motdepasse").output
    assert "au moins 8 caractères" in run(*base, "0140001A", "--password", "a1").output
    result = run(
        *base,
        "0140001A",
        "--password",
        "S3cret-pass",
        "--child-given-name",
        "A",
        "--child-family-name",
        "B",
        "--child-birthdate",
        "04/05/2012",
    )
    assert "AAAA-MM-JJ" in result.output


def test_duplicate_establishment_is_refused(run, establishment):
    result = run("establishment", "add", "--uai", "0140001a", "--name", "Autre")
    assert result.exit_code == 1
    assert "existe déjà" in result.output


def test_list_show_update_rotate_remove(run, app):
    registered = json.loads(
        run(
            "client", "add", "--name", "Cantine", "--category", "teleservice", "--redirect-uri", "https://c.example.org/cb", "--json"
        ).output
    )
    client_id = registered["client_id"]
    assert "Cantine" in run("client", "list").output
    shown = json.loads(run("client", "show", client_id).output)
    assert shown["trusted"] is False and shown["scopes"] == ["openid", "profile", "email", "scolarite"]

    result = run("client", "update", client_id, "--trusted", "--redirect-uri", "https://c.example.org/cb2", "--json")
    updated = json.loads(result.output)
    assert updated["trusted"] is True and updated["redirect_uris"] == ["https://c.example.org/cb2"]

    rotated = json.loads(run("client", "rotate-secret", client_id, "--json").output)
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
        assert client.check_client_secret(rotated["client_secret"])
        assert not client.check_client_secret(registered["client_secret"])

    assert run("client", "show", "unknown").exit_code == 1
    assert run("client", "remove", client_id, "--yes").exit_code == 0
    assert "Aucun service" in run("client", "list").output


def test_public_client_has_no_secret(run):
    result = run("client", "add", "--name", "Appli", "--category", "teleservice", "--auth-method", "none",
                 "--redirect-uri", "https://a.example.org/cb", "--json")  # fmt: skip
    assert json.loads(result.output)["client_secret"] is None
    client_id = json.loads(result.output)["client_id"]
    assert "n'a pas de secret" in run("client", "rotate-secret", client_id).output


def test_admin_actions_are_audited(run, audit_events):
    run("client", "add", "--name", "Cantine", "--category", "teleservice", "--redirect-uri", "https://c.example.org/cb")
    assert [event.event for event in audit_events("client_added")] == ["client_added"]


def test_settings_markdown_table_is_in_the_readme(run):
    from idp.config import ROOT

    table = run("settings", "--markdown").output.strip()
    assert table in (ROOT / "README.md").read_text()
