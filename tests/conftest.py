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
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask_migrate import upgrade
from playwright.sync_api import sync_playwright
from sqlalchemy import MetaData, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from idp import MIGRATIONS, create_app
from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.mail import wait_for_deliveries
from idp.models import AuditEvent
from idp.relying_parties.registration import register_client
from idp.schools.demo_accounts import create_active_account
from idp.schools.establishments import add_establishment

from .oidc_helpers import RelyingParty

ISSUER = "http://localhost"
PASSWORD = "S3cret-pass"

# The distribution's Chromium (apt-get install chromium): the tests never download a browser.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _worker(config):
    """(this pytest-xdist worker's id, e.g. "gw0", and the run's id), or (None, None)
    when the tests run in one process."""
    given = getattr(config, "workerinput", None)
    if given is None:
        return None, None
    return given["workerid"], given["testrunuid"]


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    """The test database, migrated: a SQLite file of this process, or the PostgreSQL of
    IDP_TEST_DATABASE_URL; under pytest-xdist each worker has its own PostgreSQL database,
    copied from a template migrated once per run."""
    url = os.environ.get("IDP_TEST_DATABASE_URL")
    keys = tmp_path_factory.mktemp("keys")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        _migrate(url, keys, drop_first=False)
        return url
    worker, run = _worker(request.config)
    if worker is None:
        _migrate(url, keys, drop_first=True)
        return url
    return _worker_database(make_url(url), worker, run, keys)


def _migrate(url, keys, drop_first):
    app = create_app({"DATABASE_URL": str(url), "KEYS_DIR": str(keys), "TESTING": True}, command_line=True)
    with app.app_context():
        if drop_first:
            metadata = MetaData()
            metadata.reflect(bind=db.engine)
            metadata.drop_all(bind=db.engine)
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()


def _worker_database(url, worker, run, keys):
    """`<database>_<worker>`, made from `<database>_template_<run>`, which the first worker
    to get there migrates (the others wait on an advisory lock); the templates of earlier
    runs are dropped."""
    base = url.database
    template = f"{base}_template_{run[:12]}"
    own = f"{base}_{worker}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(hashtext('idp-test-template'))"))
            try:
                databases = text("SELECT datname FROM pg_database WHERE datname LIKE :prefix")
                names = set(connection.scalars(databases, {"prefix": f"{base}_template_%"}))
                if template not in names:
                    for stale in names:
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
                    connection.execute(text(f'CREATE DATABASE "{template}"'))
                    _migrate(url.set(database=template), keys, drop_first=False)
                connection.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{own}" TEMPLATE "{template}"'))
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(hashtext('idp-test-template'))"))
    finally:
        engine.dispose()
    return url.set(database=own).render_as_string(hide_password=False)


@pytest.fixture
def postgresql(database_url):
    """Skips the test unless it runs on PostgreSQL (IDP_TEST_DATABASE_URL): what concurrent
    requests guarantee is PostgreSQL's row locking, which SQLite's single writer does not show."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL guarantee (set IDP_TEST_DATABASE_URL)")


@pytest.fixture(scope="session")
def redis_url(request):
    """The Redis of IDP_TEST_REDIS_URL ("" without), on a database index of its own under
    pytest-xdist (the URL's index plus the worker's number)."""
    url = os.environ.get("IDP_TEST_REDIS_URL", "")
    worker, _ = _worker(request.config)
    if not url or worker is None:
        return url
    parts = urlsplit(url)
    index = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{index}"))


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
def fast_path_on(request):
    """FAST_PATH of `settings`: on, unless the test is marked `both_paths`, which runs it on
    the fast path, then on the ORM path."""
    return getattr(request, "param", True)


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_paths") and "fast_path_on" in metafunc.fixturenames:
        metafunc.parametrize("fast_path_on", [True, False], ids=["fast path", "ORM path"], indirect=True)


@pytest.fixture
def settings(request, database_url, redis_url, keys_dir, closed_port, fast_path_on):
    """The configuration of the `app` fixture; a test may change it before using `app`.
    Emails go to the `smtp_server` fixture when the test uses it, else nowhere (a closed port)."""
    mail_port = request.getfixturevalue("smtp_server").port if "smtp_server" in request.fixturenames else closed_port
    return {
        "TESTING": True,
        "ISSUER": ISSUER,
        "DATABASE_URL": database_url,
        "KEYS_DIR": keys_dir,
        "SECRET_KEY": "test-secret-key",
        "REDIS_URL": redis_url,
        "THROTTLE_KEY_PREFIX": f"idp-test-{secrets.token_hex(4)}",
        # argon2id at its cheapest (8 KiB, one pass): the hash is the library's, not what
        # these tests are about; tests/test_login.py changes the parameters where it is.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mail_port,
        "MAIL_TIMEOUT": 5,
        "FAST_PATH": fast_path_on,
        # The relying parties of the tests listen on loopback, in plain http.
        "LOGOUT_ALLOW_LOOPBACK_HTTP": True,
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
            wait_for_jobs()
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
        wait_for_jobs()
        wait_for_deliveries()
        _empty_tables()
        db.engine.dispose()


def _empty_tables():
    # DELETE, not TRUNCATE: on the few rows a test leaves, PostgreSQL deletes them more than
    # ten times faster than it truncates twenty tables. Identifiers go on from where they
    # were, as in production.
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
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
    """An active parent account, jean.dupont1, with a child Alice Dupont, whose identifier in
    the school file is DEMO100 (as in the demo: examples/seed_demo.py)."""
    return make_account(child={"given_name": "Alice", "family_name": "Dupont", "birthdate": date(2012, 5, 4), "school_key": "DEMO100"})


@pytest.fixture
def pupil_account(make_account):
    """An active pupil account, alice.martin1 (password Cartable-2024), with an INE."""
    return make_account("eleve", "Alice", "Martin", "Cartable-2024", birthdate="2011-09-01", ine="1234567890A")


@pytest.fixture
def make_rp(app, client):
    def make(name="Service en ligne", category="ent", auth_method="client_secret_basic", trusted=True, scopes=None, **logout):
        with app.app_context():
            registered, secret = register_client(
                name,
                category,
                ["http://127.0.0.1:8765/cb", "https://rp.example.org/cb"],
                ["http://127.0.0.1:8765/logout-cb"],
                auth_method,
                scopes or ["openid", "profile", "email", "scolarite", "offline_access"],
                trusted,
                **logout,
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
        wait_for_jobs(app)  # what the requests deferred has been recorded
        with app.app_context():
            query = db.select(AuditEvent).order_by(AuditEvent.id)
            if name:
                query = query.where(AuditEvent.event == name)
            rows = db.session.scalars(query)
            return [
                SimpleNamespace(event=row.event, account_id=row.account_id, client_id=row.client_id, details=row.details) for row in rows
            ]

    return events


@pytest.fixture(scope="session")
def chromium_browser():
    """The system Chromium driven by Playwright, launched once per test process; each test
    opens its own context (cookies, storage) with `chromium_page`."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the distribution's package (apt-get install chromium).", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def chromium_page(chromium_browser):
    """chromium_page(locale="fr-FR", width=None): a context manager giving a page of a fresh
    browser context, French by default as the guide's parents' browsers are; `width` sets
    the viewport's (900 pixels high)."""

    @contextmanager
    def open_page(locale="fr-FR", width=None):
        viewport = {"width": width, "height": 900} if width else None
        context = chromium_browser.new_context(locale=locale, viewport=viewport)
        try:
            yield context.new_page()
        finally:
            context.close()

    return open_page
