"""Fixtures: the application on SQLite or on the PostgreSQL/Redis of IDP_TEST_*_URL,
and the people and relying parties most tests need.

The schema comes from the Alembic migrations (not create_all), built once per run; every
test starts from empty tables.
"""

import os
import secrets
from datetime import date

import pytest
from flask_migrate import upgrade
from sqlalchemy import MetaData, text

from idp import MIGRATIONS, create_app
from idp.accounts.creation import create_active_account
from idp.admin.clients import register_client
from idp.admin.establishments import add_establishment
from idp.extensions import db

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
def app(settings):
    app = create_app(settings)
    with app.app_context():
        yield app
        db.session.remove()
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


@pytest.fixture
def establishment(app):
    created = add_establishment("0140001A", "Collège Jean Moulin")
    db.session.commit()
    return created


@pytest.fixture
def parent(app, establishment):
    """An active parent account, jean.dupont1, with a child Alice Dupont."""
    account = create_active_account(
        "parent",
        "Jean",
        "Dupont",
        PASSWORD,
        establishment.uai,
        email="jean@example.org",
        child={"given_name": "Alice", "family_name": "Dupont", "birthdate": date(2012, 5, 4)},
    )
    db.session.commit()
    return account


@pytest.fixture
def pupil_account(app, establishment):
    account = create_active_account(
        "eleve", "Alice", "Martin", "Cartable-2024", establishment.uai, birthdate="2011-09-01", ine="1234567890A"
    )
    db.session.commit()
    return account


def _relying_party(client, name, category="ent", auth_method="client_secret_basic", trusted=True, scopes=None):
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


@pytest.fixture
def ent(client):
    """The ENT: trusted, confidential (client_secret_basic)."""
    return _relying_party(client, "L'Educ de Normandie")


@pytest.fixture
def make_rp(client):
    def make(name="Service en ligne", **options):
        return _relying_party(client, name, **options)

    return make


@pytest.fixture
def audit_events(app):
    def events(name=None):
        from idp.models import AuditEvent

        query = db.select(AuditEvent).order_by(AuditEvent.id)
        if name:
            query = query.where(AuditEvent.event == name)
        return db.session.scalars(query).all()

    return events
