"""Fixtures: the application on SQLite or on the PostgreSQL/Redis of IDP_TEST_*_URL,
and the people and relying parties most tests need.

The schema comes from the Alembic migrations (not create_all), built once per run; every
test starts from empty tables. Test-client requests run in their own application context,
as in production: the fixtures hand out plain snapshots (ids, identifiers), and a test
that looks into the database opens `app.app_context()` itself.
"""

import asyncio
import email
import email.policy
import os
import secrets
import socket
import threading
from datetime import date
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask_migrate import upgrade
from sqlalchemy import MetaData, text

from idp import MIGRATIONS, create_app
from idp.accounts.creation import create_active_account
from idp.extensions import db
from idp.mail import wait_for_deliveries
from idp.models import AuditEvent
from idp.relying_parties import register_client
from idp.schools.establishments import add_establishment

from .oidc_helpers import RelyingParty

ISSUER = "http://localhost"
PASSWORD = "S3cret-pass"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("IDP_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "KEYS_DIR": str(tmp_path_factory.mktemp("keys")), "TESTING": True}, command_line=True)
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


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def closed_port():
    """A port of 127.0.0.1 where nothing listens: the SMTP server of tests that do not start one."""
    return _free_port()


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives.

    `messages`: the received emails parsed with the email package (EmailMessage), in order;
    `envelopes`: (mail_from, rcpt_tos) of each; `wait_for(n)`: the messages once n arrived.
    `stop()` / `start()`: the server goes down and comes back on the same port.
    `refused`: addresses refused at RCPT (550); `credentials`: (login, password) accepted by AUTH;
    `hold()` / `release()`: the server keeps the next messages waiting before it answers.
    """

    def __init__(self):
        self.port = _free_port()
        self.messages = []
        self.envelopes = []
        self.refused = set()
        self.credentials = None
        self.logins = []
        self._arrived = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._controller = None

    def start(self):
        self._controller = Controller(
            _SmtpHandler(self), hostname="127.0.0.1", port=self.port, authenticator=self._authenticate, auth_require_tls=False
        )
        self._controller.start()

    def stop(self):
        if self._controller is not None:
            self._open.set()
            self._controller.stop()
            self._controller = None

    def hold(self):
        self._open.clear()

    def release(self):
        self._open.set()

    def wait_for(self, count, timeout=10):
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        assert arrived, f"{len(self.messages)} message(s) received, {count} expected"
        return self.messages

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = self.credentials == (login, password)
        if accepted:
            self.logins.append(login)
        return AuthResult(success=accepted, handled=False)

    async def _received(self, envelope):
        await asyncio.get_running_loop().run_in_executor(None, self._open.wait)
        with self._arrived:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            self._arrived.notify_all()


class _SmtpHandler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.server.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await self.server._received(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A running SMTP server; the `settings` (hence `app`) of a test that uses it send there."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(request, database_url, keys_dir, closed_port):
    """The configuration of the `app` fixture; a test may change it before using `app`.
    Emails go to the `smtp_server` fixture when the test uses it, else nowhere (a closed port)."""
    mail_port = request.getfixturevalue("smtp_server").port if "smtp_server" in request.fixturenames else closed_port
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
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mail_port,
        "MAIL_TIMEOUT": 5,
    }


@pytest.fixture
def make_app(database_url):
    """make_app(settings): another application (on the test database, whose tables are
    emptied after the test, as with `app`, or on another one)."""
    made = []

    def make(settings, **options):
        made.append(create_app(settings, **options))
        return made[-1]

    yield make
    emptied = False
    for other in made:
        with other.app_context():
            wait_for_deliveries()
            if not emptied and other.config["DATABASE_URL"] == database_url:
                _empty_tables()
                emptied = True
            db.engine.dispose()


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    with app.app_context():
        wait_for_deliveries()
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
