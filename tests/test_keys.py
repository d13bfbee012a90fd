"""Signing keys: private halves in the keys folder, the list in the database, shared by
every node; first key, rotation with overlap, pruning, nodes that lack a file."""

import json
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import create_engine, event

from idp.extensions import db
from idp.models import SigningKey
from idp.oidc.key_files import KeyFolder
from idp.oidc.keys import PUBLISH_AHEAD, REFRESH_INTERVAL, KeyFileMissing, key_store

from .conftest import PASSWORD
from .oidc_helpers import RelyingParty, query_of
from .travel import frozen


def kids(client):
    return [key["kid"] for key in client.get("/jwks.json").json["keys"]]


def kid_of(id_token):
    return jwt.get_unverified_header(id_token)["kid"]


def verify(rp, id_token):
    """The relying party `rp` checks `id_token` against the JWKS of the node it talks to."""
    rp.verify_id_token(id_token, nonce=jwt.decode(id_token, options={"verify_signature": False})["nonce"])


def table(app):
    with app.app_context():
        return [(row.generation, row.kid) for row in db.session.scalars(db.select(SigningKey).order_by(SigningKey.generation))]


def pem_files(directory):
    return sorted(path.name for path in directory.glob("*.pem"))


def same_relying_party(rp, app):
    """The relying party `rp`, talking to another node."""
    return RelyingParty(app.test_client(), rp.client_id, rp.secret, rp.auth_method, rp.redirect_uri, rp.issuer)


@pytest.fixture
def second_node(settings, tmp_path, make_app):
    """second_node(files=True): another application on the database of `app`, with its
    own keys folder holding a copy of the first node's key files (or none)."""

    def make(files=True):
        folder = tmp_path / "node-b-keys"
        if files:
            shutil.copytree(settings["KEYS_DIR"], folder)
        else:
            folder.mkdir()
        return make_app(settings | {"KEYS_DIR": str(folder)}), folder

    return make


def test_first_start_creates_a_key_and_records_it(settings, tmp_path, make_app):
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    app = make_app(settings)
    [(generation, kid)] = table(app)
    assert generation == 1
    assert pem_files(tmp_path / "keys") == [f"{kid}.pem"]
    assert oct((tmp_path / "keys" / f"{kid}.pem").stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "keys" / ".lock").exists()
    jwks = app.test_client().get("/jwks.json").json
    [key] = jwks["keys"]
    assert key["kid"] == kid
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert "d" not in key and "p" not in key


def test_two_nodes_with_the_same_key_file_accept_each_others_id_tokens(app, ent, parent, second_node):
    other, _ = second_node()
    elsewhere = same_relying_party(ent, other)
    here_tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    there_tokens, _ = elsewhere.full_login("jean.dupont1", PASSWORD)

    assert kid_of(here_tokens["id_token"]) == kid_of(there_tokens["id_token"])
    assert ent.client.get("/jwks.json").json == elsewhere.client.get("/jwks.json").json
    verify(ent, there_tokens["id_token"])
    verify(elsewhere, here_tokens["id_token"])

    # An ID token of one node is a valid id_token_hint at the other.
    response, _ = elsewhere.authorize(prompt="none", id_token_hint=here_tokens["id_token"])
    assert "code" in query_of(response.location), response.location


def test_node_without_the_key_file_refuses_to_start_and_says_what_to_copy(app, second_node):
    [(_, kid)] = table(app)
    with pytest.raises(KeyFileMissing) as refusal:
        second_node(files=False)
    message = str(refusal.value)
    assert kid in message and f"{kid}.pem" in message and "node-b-keys" in message
    assert "Copy" in message and "mount" in message


def test_no_node_creates_a_key_when_the_database_has_one(app, settings, tmp_path, make_app):
    before = table(app)
    empty = tmp_path / "empty"
    with pytest.raises(KeyFileMissing):
        make_app(settings | {"KEYS_DIR": str(empty)})
    assert not empty.exists() or pem_files(empty) == []
    # Nor does it register a key of its own folder that the database does not name.
    own = tmp_path / "own"
    own.mkdir()
    (own / "old.pem").write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    with pytest.raises(KeyFileMissing, match=before[0][1]):
        make_app(settings | {"KEYS_DIR": str(own)})
    assert table(app) == before


def test_key_files_are_found_by_the_key_they_hold_whatever_their_name(settings, tmp_path, make_app):
    # As an earlier version named them: `<creation time>-<kid>.pem`.
    key = RSAKey.generate_key(2048, auto_kid=True)
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / f"1764000000-{key.kid}.pem").write_bytes(key.as_pem(private=True))
    node = make_app(settings | {"KEYS_DIR": str(folder)})
    assert table(node) == [(1, key.kid)]
    assert kids(node.test_client()) == [key.kid]
    with node.app_context():
        assert key_store().signing_key().kid == key.kid


def test_read_only_keys_folder_starts_and_writes_nothing(settings, tmp_path, make_app):
    folder = tmp_path / "keys"
    settings["KEYS_DIR"] = str(folder)
    make_app(settings)
    listing = sorted(path.name for path in folder.iterdir())
    stamp = folder.stat().st_mtime_ns
    folder.chmod(0o500)
    try:
        node = make_app(settings)
        client = node.test_client()
        assert client.get("/jwks.json").status_code == 200
        with node.app_context():
            assert key_store().signing_key().kid == table(node)[0][1]
    finally:
        folder.chmod(0o700)
    assert sorted(path.name for path in folder.iterdir()) == listing
    assert folder.stat().st_mtime_ns == stamp


def test_the_idp_db_upgrade_of_an_empty_database_creates_no_key(settings, tmp_path, make_app):
    settings.update(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}", KEYS_DIR=str(tmp_path / "keys"))
    # A node started before the schema exists does not fail...
    make_app(settings)
    command_line = make_app(settings, command_line=True)
    result = command_line.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert table(command_line) == [] and not (tmp_path / "keys").exists()
    # ... and the first node started afterwards makes the first key.
    node = make_app(settings)
    assert len(table(node)) == 1 and len(pem_files(tmp_path / "keys")) == 1


def _start_two_nodes_at_once(settings, make_app, folders, monkeypatch):
    """Two nodes starting together on an empty table: both look at their folder before
    either registers a key."""
    barrier = threading.Barrier(2)
    waited = threading.local()
    first_waits = threading.Event()
    scan = KeyFolder.scan

    def scan_then_wait(folder):
        found = scan(folder)
        if not getattr(waited, "done", False):
            waited.done = True
            first_waits.set()
            barrier.wait(timeout=10)
        return found

    monkeypatch.setattr(KeyFolder, "scan", scan_then_wait)
    outcomes = [None, None]

    def start(index):
        try:
            outcomes[index] = make_app(settings | {"KEYS_DIR": str(folders[index])})
        except KeyFileMissing as refusal:
            outcomes[index] = refusal

    threads = [threading.Thread(target=start, args=(index,)) for index in (0, 1)]
    # The second application is built while the first waits at the barrier: Python 3.11's
    # compiler (which werkzeug uses for each URL rule) is not safe from two threads at once.
    threads[0].start()
    first_waits.wait(timeout=10)
    threads[1].start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_processes_starting_at_once_on_one_folder_share_the_winners_key(settings, tmp_path, make_app, monkeypatch):
    folder = tmp_path / "keys"
    outcomes = _start_two_nodes_at_once(settings, make_app, [folder, folder], monkeypatch)
    [(_, kid)] = table(outcomes[0])
    assert pem_files(folder) == [f"{kid}.pem"]
    for node in outcomes:
        with node.app_context():
            assert key_store().signing_key().kid == kid


def test_two_nodes_starting_at_once_with_their_own_folders_keep_one_key(settings, tmp_path, make_app, monkeypatch):
    folders = [tmp_path / "a", tmp_path / "b"]
    outcomes = _start_two_nodes_at_once(settings, make_app, folders, monkeypatch)
    [winner] = [index for index, outcome in enumerate(outcomes) if not isinstance(outcome, Exception)]
    loser = 1 - winner
    [(_, kid)] = table(outcomes[winner])
    assert pem_files(folders[winner]) == [f"{kid}.pem"]
    assert pem_files(folders[loser]) == []
    assert f"{kid}.pem" in str(outcomes[loser])


def test_rotation_publishes_the_new_key_before_it_signs_and_keeps_the_old_one(app, ent, parent):
    folder = Path(app.config["KEYS_DIR"])
    with frozen() as traveller:
        before, _ = ent.full_login("jean.dupont1", PASSWORD)
        old_kid = kid_of(before["id_token"])

        traveller.shift(timedelta(minutes=5))
        with app.app_context():
            new_kid = key_store().rotate().kid
        assert new_kid != old_kid
        assert kids(ent.client) == [old_kid, new_kid]
        early, _ = ent.full_login("jean.dupont1", PASSWORD, prompt="login")
        assert kid_of(early["id_token"]) == old_kid

        traveller.shift(PUBLISH_AHEAD)
        after, _ = ent.full_login("jean.dupont1", PASSWORD, prompt="login")
        assert kid_of(after["id_token"]) == new_kid
        verify(ent, before["id_token"])

        # The old key stays published until every token it signed has expired.
        runner = app.test_cli_runner()
        traveller.shift(timedelta(seconds=app.config["ID_TOKEN_LIFETIME"]))
        assert kids(ent.client) == [old_kid, new_kid]
        assert runner.invoke(args=["keys", "prune"]).output.strip() == "Aucune clé à retirer."
        assert kids(ent.client) == [old_kid, new_kid]

        traveller.shift(timedelta(seconds=301))
        assert kids(ent.client) == [new_kid]
        result = runner.invoke(args=["keys", "prune", "--json"])
        assert json.loads(result.output) == [{"kid": old_kid, "file_deleted": str(folder / f"{old_kid}.pem")}]
        assert f"{old_kid}.pem" not in pem_files(folder) and f"{new_kid}.pem" in pem_files(folder)
        assert [kid for _, kid in table(app)] == [new_kid]


def test_a_rotation_on_one_node_reaches_the_other(app, ent, parent, second_node, caplog):
    with frozen() as traveller:
        other, folder = second_node()
        elsewhere = same_relying_party(ent, other)
        [old_kid] = kids(elsewhere.client)

        result = app.test_cli_runner().invoke(args=["keys", "rotate", "--json"])
        assert result.exit_code == 0, result.output
        new_kid = json.loads(result.output)["kid"]
        assert kids(elsewhere.client) == [old_kid]
        traveller.shift(timedelta(seconds=REFRESH_INTERVAL))
        assert kids(elsewhere.client) == [old_kid, new_kid]
        assert f"{new_kid}.pem" in caplog.text  # the other node says it lacks the new file

        # Once the new key is due, a node still lacking its file signs with the old one.
        traveller.shift(PUBLISH_AHEAD)
        tokens, _ = elsewhere.full_login("jean.dupont1", PASSWORD)
        assert kid_of(tokens["id_token"]) == old_kid
        verify(ent, tokens["id_token"])

        shutil.copy(app.config["KEYS_DIR"] + f"/{new_kid}.pem", folder)
        traveller.shift(timedelta(seconds=REFRESH_INTERVAL))
        tokens, _ = elsewhere.full_login("jean.dupont1", PASSWORD, prompt="login")
        assert kid_of(tokens["id_token"]) == new_kid
        verify(ent, tokens["id_token"])


def test_a_key_made_by_a_clock_ahead_never_stops_a_node_from_signing(app, ent, parent, second_node):
    """The first key was registered by a node whose clock ran a day ahead of the one that
    rotates: the generation decides which key signs, and a node lacking the new key's file
    signs with the first one rather than refusing."""
    other, _ = second_node()
    elsewhere = same_relying_party(ent, other)
    [(_, first_kid)] = table(app)
    with frozen(days=-1) as traveller:
        with app.app_context():
            new_kid = key_store().rotate().kid
        traveller.shift(PUBLISH_AHEAD + timedelta(seconds=REFRESH_INTERVAL))
        assert kids(elsewhere.client) == [first_kid, new_kid]
        tokens, _ = elsewhere.full_login("jean.dupont1", PASSWORD)
        assert kid_of(tokens["id_token"]) == first_kid
        verify(ent, tokens["id_token"])
        tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
        assert kid_of(tokens["id_token"]) == new_kid
        states = {each["record"].kid: each["state"] for each in _described(app)}
        assert states == {first_kid: "retired", new_kid: "signing"}


def _described(app):
    with app.app_context():
        return key_store().describe()


def test_node_lacking_a_key_about_to_sign_refuses_to_start(app, second_node):
    app.test_cli_runner().invoke(args=["keys", "rotate"])
    [_, (_, new_kid)] = table(app)
    with pytest.raises(KeyFileMissing, match=f"{new_kid}.pem"):
        second_node(files=False)


def test_jwks_and_signing_key_come_from_memory_between_two_reads(app, client):
    statements = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with frozen() as traveller:
        client.get("/jwks.json")
        statements.clear()
        for _ in range(3):
            assert client.get("/jwks.json").status_code == 200
            with app.app_context():
                key_store().signing_key()
        assert statements == []
        traveller.shift(timedelta(seconds=REFRESH_INTERVAL))
        client.get("/jwks.json")
        assert len(statements) == 1 and "signing_key" in statements[0]


def test_keys_read_before_stay_in_use_while_the_database_is_unreachable(app, client, tmp_path, caplog):
    with frozen() as traveller:
        published = client.get("/jwks.json").json
        store = app.extensions["idp.keys"]
        reachable, store.engine = store.engine, create_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
        try:
            traveller.shift(timedelta(seconds=REFRESH_INTERVAL))
            assert client.get("/jwks.json").json == published
            with app.app_context():
                assert key_store().signing_key().kid == published["keys"][0]["kid"]
            assert "signing keys not re-read" in caplog.text
        finally:
            store.engine.dispose()
            store.engine = reachable


def test_keys_list_shows_each_key_with_headers_or_as_json(app):
    app.test_cli_runner().invoke(args=["keys", "rotate"])
    [(_, old_kid), (_, new_kid)] = table(app)
    runner = app.test_cli_runner()
    lines = runner.invoke(args=["keys", "list"]).output.splitlines()
    assert lines[0].split()[:2] == ["kid", "état"]
    assert lines[1].startswith(old_kid) and "signe" in lines[1]
    assert lines[2].startswith(new_kid) and "à venir" in lines[2]
    listed = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    assert [(key["kid"], key["state"]) for key in listed] == [(old_kid, "signing"), (new_kid, "next")]
    assert listed[0]["published_until"] is not None and listed[1]["published_until"] is None
    assert all(key["file"].endswith(f"{key['kid']}.pem") for key in listed)


def test_each_keys_command_has_a_one_line_help(app):
    output = app.test_cli_runner().invoke(args=["keys", "--help"]).output
    for name in ("rotate", "list", "prune"):
        [line] = [line for line in output.splitlines() if line.split()[:1] == [name]]
        assert len(line.split(None, 1)[1]) > 20 and not line.endswith("...")


def test_the_command_line_needs_no_key_file(app, settings, tmp_path, make_app):
    [(_, kid)] = table(app)
    command_line = make_app(settings | {"KEYS_DIR": str(tmp_path / "empty")}, command_line=True)
    runner = command_line.test_cli_runner()
    result = runner.invoke(args=["keys", "list"])
    assert result.exit_code == 0 and f"ABSENT ({kid}.pem)" in result.output


def test_published_documents_are_replayed_until_the_keys_change(settings, tmp_path, make_app):
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    with frozen() as traveller:
        app = make_app(settings)
        client = app.test_client()
        first = client.get("/.well-known/openid-configuration")
        again = client.get("/.well-known/openid-configuration", headers={"X-Request-Id": "replayed-1"})
        assert again.data == first.data
        # The same headers, but the request id: each request's own.
        assert again.headers["X-Request-Id"] == "replayed-1" != first.headers["X-Request-Id"]
        assert [h for h in again.headers if h[0] != "X-Request-Id"] == [h for h in first.headers if h[0] != "X-Request-Id"]
        assert again.headers["X-Content-Type-Options"] == "nosniff"
        before = kids(client)
        traveller.shift(timedelta(minutes=5))
        with app.app_context():
            new_kid = key_store().rotate().kid
        assert kids(client) == [*before, new_kid]
        traveller.shift(PUBLISH_AHEAD + timedelta(seconds=app.config["ID_TOKEN_LIFETIME"] + 300))
        assert kids(client) == [new_kid]
