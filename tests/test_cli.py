"""The `idp` command as operators script it: establishments, accounts, relying parties."""

import json

import click
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from idp.cli import SCHEMA_BEHIND, main
from idp.extensions import db
from idp.models import Account, AuditEvent, Client, Establishment


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))

    return invoke


def test_the_scripted_setup_of_the_issue(run, app):
    assert run("establishment", "add", "--uai", "0140001A", "--name", "Collège Jean Moulin").exit_code == 0
    result = run(
        "demo-account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont",
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
            "demo-account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont",
            "--password", "S3cret-pass", "--establishment", "0140001A", "--json",
        )  # fmt: skip
        assert json.loads(result.output)["identifier"] == expected


def test_accented_names_make_ascii_identifiers(run, establishment):
    result = run(
        "demo-account", "create", "--kind", "eleve", "--given-name", "Zoé", "--family-name", "Le Gall-Hervé",
        "--password", "Cartable-2024", "--establishment", "0140001A", "--birthdate", "2011-02-03", "--json",
    )  # fmt: skip
    assert json.loads(result.output)["identifier"] == "zoe.legall-herve1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "http://example.org/cb"], "http n'est admis que sur"),
        (["--redirect-uri", "not a uri"], "espace"),
        (["--redirect-uri", "/cb"], "malformée"),
        (["--redirect-uri", "https://rp.example.org:https/cb"], "malformée"),
        (["--redirect-uri", "https://rp.example.org/cb#frag"], "fragment"),
        (["--redirect-uri", "https://rp.example.org/cb#"], "fragment"),
        (["--redirect-uri", "https://*.example.org/cb"], "joker"),
        (["--redirect-uri", "https://rp.example.org/*"], "joker"),
        (["--redirect-uri", "https://rp.example.org/cb", "--post-logout-redirect-uri", "https://rp.example.org/*"], "joker"),
        (["--redirect-uri", "https://user:password@rp.example.org/cb"], "user:password@"),
        (["--redirect-uri", "https://rp.example.org@evil.example/cb"], "user:password@"),
        (["--redirect-uri", "http://localhost.evil.example/cb"], "http n'est admis que sur"),
        (["--redirect-uri", "https://rp.example.org/cb", "--scope", "openid", "--scope", "phone"], "Scope inconnu : phone"),
        (["--redirect-uri", "https://rp.example.org/cb", "--scope", "profile"], "openid est obligatoire"),
        (["--redirect-uri", "https://rp.example.org/cb", "--post-logout-redirect-uri", "ftp://x/"], "malformé"),
    ],
)
def test_bad_client_input_is_refused_and_changes_nothing(run, app, args, message):
    result = run("client", "add", "--name", "Service", "--category", "teleservice", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert not result.output.startswith("Error")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Client)) == 0


def test_the_former_name_of_demo_account_still_works_for_one_release(run, app, establishment):
    result = run(
        "account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont",
        "--password", "S3cret-pass", "--establishment", "0140001A", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["identifier"] == "jean.dupont1"
    assert result.stderr == "`idp account` est obsolète et sera retiré à la prochaine version : utilisez `idp demo-account`.\n"
    assert "demo-account" in run("--help").output
    assert "  account " not in run("--help").output  # hidden


def test_unknown_auth_method_and_category_are_refused(run):
    result = run("client", "add", "--name", "S", "--category", "banque", "--redirect-uri", "https://x.example/cb")
    assert result.exit_code == 2
    assert "banque" in result.output


def test_bad_account_input_is_refused(run, establishment):
    base = ["demo-account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Dupont", "--establishment"]
    assert "établissement inconnu" in run(*base, "0149999Z", "--password", "S3cret-pass").output
    assert "UAI invalide" in run(*base, "123", "--password", "S3cret-pass").output
    assert "au moins un chiffre" in run(*base, "0140001A", "--password", "motdepasse").output
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
    shown = json.loads(run("client", "show", client_id, "--json").output)
    assert shown["trusted"] is False and shown["scopes"] == ["openid", "profile", "email", "scolarite"]

    result = run("client", "update", client_id, "--trusted", "--redirect-uri", "https://c.example.org/cb2", "--json")
    updated = json.loads(result.output)
    assert updated["trusted"] is True and updated["redirect_uris"] == ["https://c.example.org/cb2"]

    # --overlap 0: the former secret stops at once (the default keeps it 24 h: tests/test_relying_parties.py).
    rotated = json.loads(run("client", "rotate-secret", client_id, "--overlap", "0", "--json").output)
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
        assert client.check_client_secret(rotated["client_secret"])
        assert not client.check_client_secret(registered["client_secret"])

    assert run("client", "show", "unknown").exit_code == 1
    assert json.loads(run("client", "remove", client_id, "--yes", "--json").output) == {"client_id": client_id, "removed": True}
    assert "Aucun service" in run("client", "list").output
    assert json.loads(run("client", "list", "--json").output) == []


def test_public_client_has_no_secret(run):
    result = run("client", "add", "--name", "Appli", "--category", "teleservice", "--auth-method", "none",
                 "--redirect-uri", "https://a.example.org/cb", "--json")  # fmt: skip
    assert json.loads(result.output)["client_secret"] is None
    client_id = json.loads(result.output)["client_id"]
    assert "n'a pas de secret" in run("client", "rotate-secret", client_id).output


def test_admin_actions_are_audited(run, audit_events):
    run("client", "add", "--name", "Cantine", "--category", "teleservice", "--redirect-uri", "https://c.example.org/cb")
    assert [event.event for event in audit_events("client_added")] == ["client_added"]


def _register(run, name="Cantine", *options):
    result = run(
        "client", "add", "--name", name, "--category", "teleservice", "--redirect-uri", "https://c.example.org/cb", *options, "--json"
    )
    return json.loads(result.output)["client_id"]


def test_update_with_a_wildcard_uri_is_refused_and_changes_nothing(run):
    client_id = _register(run)
    for uri in ("https://c.example.org/*", "https://admin:secret@c.example.org/cb", "https://c.example.org/cb#top"):
        result = run("client", "update", client_id, "--name", "Autre", "--redirect-uri", uri)
        assert result.exit_code == 1, uri
        assert "refusée" in result.output
    shown = json.loads(run("client", "show", client_id, "--json").output)
    assert shown["name"] == "Cantine" and shown["redirect_uris"] == ["https://c.example.org/cb"]


def test_update_without_any_change_is_an_error(run, audit_events):
    client_id = _register(run)
    for extra in ([], ["--json"]):
        result = run("client", "update", client_id, *extra)
        assert result.exit_code == 1
        assert "Rien à modifier" in result.output
    assert audit_events("client_updated") == []


def test_lists_have_a_header_line(run):
    _register(run, "Cantine")
    _register(run, "Bourses", "--trusted")
    header, *rows = run("client", "list").output.splitlines()
    assert header.split() == ["CLIENT_ID", "CATÉGORIE", "AUTHENTIFICATION", "CONFIANCE", "NOM"]
    assert [row.split()[-1] for row in rows] == ["Bourses", "Cantine"]
    assert [row.split()[3] for row in rows] == ["oui", "non"]


def test_show_is_readable_and_json_on_demand(run):
    client_id = _register(run)
    shown = run("client", "show", client_id).output
    assert f"client_id                       : {client_id}" in shown
    assert "URI de redirection              : https://c.example.org/cb" in shown
    assert json.loads(run("client", "show", client_id, "--json").output)["client_id"] == client_id


def test_every_printed_result_has_its_json(run, establishment):
    assert json.loads(run("establishment", "add", "--uai", "0140002B", "--name", "École", "--json").output)["uai"] == "0140002B"
    client_id = _register(run)
    updated = json.loads(run("client", "update", client_id, "--not-trusted", "--json").output)
    assert updated["client_id"] == client_id
    assert set(json.loads(run("client", "rotate-secret", client_id, "--json").output)) == {"client_id", "client_secret"}
    assert json.loads(run("settings", "--json").output)["IDP_ISSUER"] == "http://localhost"


def _commands(group, path=()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_command_has_a_one_line_help(app):
    ours = {name: command for name, command in app.cli.commands.items() if name != "db"}  # db: Flask-Migrate's
    shorts = {" ".join(path): command.get_short_help_str() for path, command in _commands(click.Group(commands=ours))}
    assert [path for path, short in shorts.items() if not short.strip() or short.endswith("...")] == []


def test_settings_hide_passwords_and_show_the_folders_in_use(make_app, settings):
    other = make_app(
        settings | {"DATABASE_URL": "postgresql+psycopg://idp:hunter2@db.invalid/idp", "REDIS_URL": "redis://:hunter3@127.0.0.1:6379/0"},
        command_line=True,
    )
    output = other.test_cli_runner().invoke(args=["settings"]).output
    assert "hunter" not in output and "test-secret-key" not in output
    assert "IDP_DATABASE_URL=postgresql+psycopg://idp:***@db.invalid/idp" in output.splitlines()
    assert "IDP_REDIS_URL=redis://:***@127.0.0.1:6379/0" in output.splitlines()
    assert f"IDP_KEYS_DIR={settings['KEYS_DIR']}" in output.splitlines()


@pytest.fixture
def unmigrated_url(database_url, tmp_path):
    """A database without the schema: an empty SQLite file, or on PostgreSQL the test
    database seen through a schema that does not exist."""
    if database_url.startswith("postgresql"):
        return database_url + "?options=-csearch_path%3Dunmigrated"
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


@pytest.mark.parametrize(
    "command",
    [
        "client list",
        "client add --name Cantine --category teleservice --redirect-uri https://c.example.org/cb",
        "establishment add --uai 0140001A --name Collège",
        "demo-account create --kind eleve --given-name Zoé --family-name Martin --password Cartable-2024 --establishment 0140001A",
    ],
)
def test_unmigrated_database_asks_for_the_upgrade_without_a_traceback(make_app, settings, unmigrated_url, command):
    unmigrated = make_app(settings | {"DATABASE_URL": unmigrated_url})
    result = CliRunner().invoke(main, command.split(), obj=ScriptInfo(create_app=lambda: unmigrated), env={"FLASK_RUN_FROM_CLI": None})
    assert result.exit_code == 1
    assert result.output == SCHEMA_BEHIND + "\n"


def test_settings_markdown_table_is_in_the_readme(run):
    from idp.config import ROOT

    table = run("settings", "--markdown").output.strip()
    assert table in (ROOT / "README.md").read_text()


def test_an_establishment_is_added_and_updated_with_its_contact_details(run, app):
    added = run(
        "establishment", "add", "--uai", "0140001A", "--name", "Collège Jean Moulin",
        "--address", "12 rue des Écoles\\n14000 Caen", "--phone", "0231000000", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.output) == {
        "uai": "0140001A", "name": "Collège Jean Moulin", "academie": "Normandie", "degree": "2d",
        "address": "12 rue des Écoles\n14000 Caen", "phone": "02 31 00 00 00", "contact": None,
    }  # fmt: skip
    updated = run("establishment", "update", "0140001a", "--name", "Collège Jean-Moulin", "--contact", "Secrétariat : 02 31 99 99 99")
    assert updated.exit_code == 0, updated.output
    assert updated.output == "Établissement 0140001A modifié : name, contact.\n"
    cleared = json.loads(run("establishment", "update", "0140001A", "--phone", "", "--address", "", "--json").output)
    assert (cleared["address"], cleared["phone"], cleared["contact"]) == (None, None, "Secrétariat : 02 31 99 99 99")
    assert cleared["changed"] == ["address", "phone"]
    assert run("establishment", "update", "0140001A").output == "Établissement 0140001A : rien à modifier.\n"
    with app.app_context():
        events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == "establishment_updated")).all()
        assert [event.details["fields"] for event in events] == [["name", "contact"], ["address", "phone"]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--phone", "12 34"], "Téléphone invalide : '12 34' (un numéro français, par exemple 02 31 00 00 00 ou +33 2 31 00 00 00)."),
        (["--phone", "+44 20 7946 0000"], "Téléphone invalide"),
        (["--address", "1\\n2\\n3\\n4\\n5"], "L'adresse tient en 4 lignes au plus."),
        (["--contact", "x" * 201], "La ligne de contact fait 200 caractères au plus."),
        (["--name", "  "], "Le nom de l'établissement est obligatoire."),
    ],
)
def test_bad_establishment_details_are_refused_and_nothing_changes(run, app, establishment, options, message):
    result = run("establishment", "update", "0140001A", "--phone", "02 31 00 00 00", *options)
    assert result.exit_code == 1
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(db.select(Establishment.phone)) is None


def test_updating_an_unknown_establishment_is_refused(run, establishment):
    result = run("establishment", "update", "0999999Z", "--phone", "02 31 00 00 00")
    assert result.exit_code == 1 and "Établissement inconnu : 0999999Z." in result.output
