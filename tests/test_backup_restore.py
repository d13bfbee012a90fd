"""Backups proven (docs/operations.md, « Backups »): a PostgreSQL dump taken with pg_dump,
restored with pg_restore into a new database, serves a new provider started with the same
keys folder (a copy of it) and the same secrets: the session of a browser logged in before
the dump, its refresh token, the ID token's signature and a letter printed before the dump
all still work."""

import secrets
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from idp import create_app
from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.mail import wait_for_deliveries

from .conftest import PASSWORD
from .fc_helpers import BIRTH_DATE, SCHOOL_EMAIL, fill_form
from .issuing_helpers import add_pupil, issue, page_value, pdf_pages
from .oidc_helpers import RelyingParty
from .test_login import post_login

TOOLS = ("pg_dump", "pg_restore")


@pytest.fixture
def postgresql_tools(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the backup test restores a PostgreSQL dump: set IDP_TEST_DATABASE_URL to a PostgreSQL database")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the backup test needs {' and '.join(missing)} (apt-get install postgresql-client)")


def libpq_url(url):
    """The SQLAlchemy URL as pg_dump and pg_restore read it (postgresql://…)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def secret_settings(settings):
    """The secrets kept outside the database, as the operators keep them in their secret store."""
    settings.update(SECRET_KEY=secrets.token_hex(32), HASH_KEY=secrets.token_hex(32), MAIL_OUTBOX_KEY=secrets.token_hex(32))
    return settings


def test_a_restored_dump_serves_sessions_tokens_and_letters(postgresql_tools, secret_settings, app, establishment, ent, parent, tmp_path):
    # Before the dump: a browser logged in at the ENT, with a refresh token and an ID token…
    code, values = ent.log_in_and_get_code(parent.identifier, PASSWORD, scope="openid profile offline_access")
    tokens = ent.exchange(code).json
    assert "refresh_token" in tokens and "id_token" in tokens
    session_cookie = ent.client.get_cookie("idp_session")
    assert session_cookie is not None
    # …and the letters of a class printed: a provisional password on paper.
    add_pupil(app, "0140001A", "Alice", "Martin", "6A", [("Paul", "Martin", SCHOOL_EMAIL)], birth_date=BIRTH_DATE)
    issued, pdf = issue(app, letters=True)
    letter = next(text for text in pdf_pages(pdf) if "paul.martin" in text)
    letter_identifier, letter_secret = page_value(letter, "Identifiant"), page_value(letter, "Mot de passe provisoire")
    assert letter_secret in {each.secret for each in issued}

    dump = tmp_path / "idp.dump"
    subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), "--dbname", libpq_url(app.config["DATABASE_URL"])], check=True)

    # What changes after the dump is not in it: the original goes on without the backup.
    restored_name = f"{make_url(app.config['DATABASE_URL']).database}_restore_{secrets.token_hex(3)}"
    restored_url = make_url(app.config["DATABASE_URL"]).set(database=restored_name).render_as_string(hide_password=False)
    server = create_engine(make_url(restored_url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{restored_name}"'))
    restored = None
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", libpq_url(restored_url), str(dump)], check=True)
        # The keys folder comes back from its own backup; the secrets from the secret store.
        keys = shutil.copytree(app.config["KEYS_DIR"], tmp_path / "restored-keys")
        restored = create_app(secret_settings | {"DATABASE_URL": restored_url, "KEYS_DIR": str(keys)})
        client = restored.test_client()
        rp = RelyingParty(client, ent.client_id, ent.secret, ent.auth_method, ent.redirect_uri, ent.issuer)

        # The session cookie of the browser still logs in: its account's page, and single sign-on.
        client.set_cookie(session_cookie.key, session_cookie.value, domain=urlsplit(ent.issuer).hostname)
        assert "Gérer son compte" in client.get("/compte/").text
        sso_code, _ = rp.log_in_and_get_code(parent.identifier, "never typed")
        assert rp.exchange(sso_code).status_code == 200

        # The refresh token still refreshes.
        refreshed = rp.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.json
        assert refreshed.json["refresh_token"] != tokens["refresh_token"]

        # The ID token issued before the dump verifies against the restored provider's JWKS.
        claims = rp.verify_id_token(tokens["id_token"], nonce=values["nonce"])
        assert claims["sub"] == parent.sub

        # The letter's provisional password still opens the first connection.
        browser = restored.test_client()
        answer = post_login(browser, letter_identifier, letter_secret)
        assert answer.status_code == 303 and urlsplit(answer.location).path == "/premiere-connexion"
        assert fill_form(browser).status_code == 303
    finally:
        if restored is not None:
            with restored.app_context():
                wait_for_jobs()
                wait_for_deliveries()
                db.engine.dispose()
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
            left = connection.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": restored_name})
        server.dispose()
    assert left == 0
