"""Fixtures: the application on SQLite or on the PostgreSQL/Redis of IDP_TEST_*_URL,
and the people and relying parties most tests need.

The schema comes from the Alembic migrations (not create_all), built once per run; every
test starts from empty tables. Test-client requests run in their own application context,
as in production: the fixtures hand out plain snapshots (ids, identifiers), and a test
that looks into the database opens `app.app_context()` itself.
"""

import os
import secrets
from datetime import date
from types import SimpleNamespace

import pytest
from flask_migrate import upgrade
from sqlalchemy import MetaData, text

from idp import MIGRATIONS, create_app
from idp.accounts.creation import create_active_account
from idp.admin.clients import register_client
from idp.extensions import db
from idp.models import AuditEvent
from idp.schools.establishments import add_establishment

from .oidc_helpers import RelyingParty

ISSUER = "http://localhost"
PASSWORD = "S3cret-pass"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("IDP_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "KEYS_DIR": str(tmp_path_factory.mktemp("keys")), "TESTING": True})
    with app.app_context():
        _drop_everything()
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
    return url


def _drop_everything():
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    metadata.drop_all(bind=db.engine)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("signing-keys"))


@pytest.fixture
def settings(database_url, keys_dir):
    """The configuration of the `app` fixture; a test may change it before using `app`."""
    return {
        "TESTING": True,
        "ISSUER": ISSUER,
        "DATABASE_URL": database_url,
        "KEYS_DIR": keys_dir,
        "SECRET_KEY": "test-secret-key",
        "REDIS_URL": os.environ.get("IDP_TEST_REDIS_URL", ""),
        "THROTTLE_KEY_PREFIX": f"idp-test-{secrets.token_hex(4)}",
        # Cheaper argon2id than production: the hash is the library's, not ours to time.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
    }


@pytest.fixture
def make_app():
    """make_app(settings): another application on the same database, closed after the test."""
    made = []

    def make(settings):
        made.append(create_app(settings))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    with app.app_context():
        _empty_tables()
        db.engine.dispose()


def _empty_tables():
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


def snapshot(account):
    return SimpleNamespace(id=account.id, sub=account.sub, identifier=account.identifier, state=account.state)


@pytest.fixture
def establishment(app):
    with app.app_context():
        created = add_establishment("0140001A", "Collège Jean Moulin")
        db.session.commit()
        return SimpleNamespace(id=created.id, uai=created.uai, name=created.name)


@pytest.fixture
def make_account(app, establishment):
    def make(kind="parent", given_name="Jean", family_name="Dupont", password=PASSWORD, **options):
        if kind == "parent":
            options.setdefault("child", {"given_name": "Alice", "family_name": "Dupont", "birthdate": date(2012, 5, 4)})
            options.setdefault("email", "jean@example.org")
        with app.app_context():
            account = create_active_account(kind, given_name, family_name, password, establishment.uai, **options)
            db.session.commit()
            return snapshot(account)

    return make


@pytest.fixture
def parent(make_account):
    """An active parent account, jean.dupont1, with a child Alice Dupont."""
    return make_account()


@pytest.fixture
def pupil_account(make_account):
    """An active pupil account, alice.martin1 (password Cartable-2024), with an INE."""
    return make_account("eleve", "Alice", "Martin", "Cartable-2024", birthdate="2011-09-01", ine="1234567890A")


@pytest.fixture
def make_rp(app, client):
    def make(name="Service en ligne", category="ent", auth_method="client_secret_basic", trusted=True, scopes=None):
        with app.app_context():
            registered, secret = register_client(
                name,
                category,
                ["http://127.0.0.1:8765/cb", "https://rp.example.org/cb"],
                ["http://127.0.0.1:8765/logout-cb"],
                auth_method,
                scopes or ["openid", "profile", "email", "scolarite", "offline_access"],
                trusted,
            )
            db.session.commit()
            return RelyingParty(client, registered.client_id, secret, auth_method, "http://127.0.0.1:8765/cb", ISSUER)

    return make


@pytest.fixture
def ent(make_rp):
    """The ENT: trusted, confidential (client_secret_basic)."""
    return make_rp("L'Educ de Normandie")


@pytest.fixture
def audit_events(app):
    """audit_events(name=None): the audit rows (event, account_id, client_id, details), oldest first."""

    def events(name=None):
        with app.app_context():
            query = db.select(AuditEvent).order_by(AuditEvent.id)
            if name:
                query = query.where(AuditEvent.event == name)
            rows = db.session.scalars(query)
            return [
                SimpleNamespace(event=row.event, account_id=row.account_id, client_id=row.client_id, details=row.details) for row in rows
            ]

    return events
