"""Signing keys: creation on first start, rotation with overlap, pruning."""

import os
from datetime import timedelta

import jwt
import time_machine

from idp.oidc.keys import key_store

from .conftest import PASSWORD


def kids(client):
    return [key["kid"] for key in client.get("/jwks.json").json["keys"]]


def test_first_start_creates_a_key(settings, tmp_path, make_app):
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    app = make_app(settings)
    files = list((tmp_path / "keys").glob("*.pem"))
    assert len(files) == 1
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    jwks = app.test_client().get("/jwks.json").json
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert "d" not in key and "p" not in key


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(settings, tmp_path, make_rp, parent, make_app):
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    with time_machine.travel("2026-11-30 08:00:00", tick=False) as traveller:
        app = make_app(settings)
        ent = make_rp("ENT")
        ent.client = app.test_client()
        before, _ = ent.full_login("jean.dupont1", PASSWORD)
        old_kid = jwt.get_unverified_header(before["id_token"])["kid"]

        traveller.shift(timedelta(minutes=5))
        with app.app_context():
            new_kid = key_store().rotate()
        assert new_kid != old_kid
        assert kids(ent.client) == [old_kid, new_kid]

        after, _ = ent.full_login("jean.dupont1", PASSWORD, prompt="login")
        assert jwt.get_unverified_header(after["id_token"])["kid"] == new_kid
        ent.verify_id_token(before["id_token"], nonce=jwt.decode(before["id_token"], options={"verify_signature": False})["nonce"])

        # Once every token the old key signed has expired, it leaves the JWKS and the disk.
        traveller.shift(timedelta(seconds=app.config["ID_TOKEN_LIFETIME"] + 301))
        assert kids(ent.client) == [new_kid]
        with app.app_context():
            assert key_store().prune() == [old_kid]
        assert len(os.listdir(tmp_path / "keys")) == len([name for name in os.listdir(tmp_path / "keys") if not name.endswith(".pem")]) + 1


def test_keys_rotate_command(settings, tmp_path, make_app):
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    app = make_app(settings)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["keys", "list"]).output
    assert "signe" in listing and "publiée" in listing


def test_published_documents_are_replayed_until_the_keys_change(settings, tmp_path, make_app):
    settings["KEYS_DIR"] = str(tmp_path / "keys")
    with time_machine.travel("2026-11-30 08:00:00", tick=False) as traveller:
        app = make_app(settings)
        client = app.test_client()
        first = client.get("/.well-known/openid-configuration")
        again = client.get("/.well-known/openid-configuration")
        assert again.data == first.data and again.headers == first.headers
        assert again.headers["X-Content-Type-Options"] == "nosniff"
        before = kids(client)
        traveller.shift(timedelta(minutes=5))
        with app.app_context():
            new_kid = key_store().rotate()
        assert kids(client) == [*before, new_kid]
        traveller.shift(timedelta(seconds=app.config["ID_TOKEN_LIFETIME"] + 301))
        assert kids(client) == [new_kid]
