"""The Téléservices identity provider: an OpenID Connect provider for school families."""

import hashlib
import ipaddress
import logging
import secrets
import warnings
from pathlib import Path

from flask import Flask, current_app, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from jinja2 import StrictUndefined
from sqlalchemy import event, make_url
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as settings
from . import memory, templating
from .extensions import babel, csrf, db, migrate
from .urls import RowId

# pysaml2 7.5 names cryptography's CFB mode, which cryptography 44+ warns has moved; pysaml2
# does not use it: no such line on the standard error of every command.
warnings.filterwarnings("ignore", message="CFB has been moved", module="saml2")

PACKAGE = Path(__file__).resolve().parent
MIGRATIONS = PACKAGE / "migrations"
# A wheel carries the pages inside the package (setup.py maps the top-level templates/
# there); a checkout, editable install included, keeps them beside idp/.
INSTALLED = (PACKAGE / "templates").is_dir()
TEMPLATES = PACKAGE / "templates" if INSTALLED else settings.ROOT / "templates"


def create_app(config=None, command_line=False):
    """Build the application: defaults, then `IDP_*` environment variables, then `config`.

    A serving application reads its signing keys at once, and refuses to start without
    the key files the database names (idp.oidc.keys); the command line reads them only if
    a command needs them.
    """
    values = settings.load(config)
    # Installed, the instance folder is Flask's: <prefix>/var/idp-instance (a virtualenv's
    # prefix is the virtualenv itself); in a checkout, instance/ beside idp/.
    app = Flask(__name__, template_folder=str(TEMPLATES), instance_path=None if INSTALLED else str(settings.ROOT / "instance"))
    app.config.update(values)
    app.session_interface = CookieSessionOnDemand()
    app.url_map.converters["id"] = RowId
    _configure(app, command_line)

    db.init_app(app)
    if app.config["DATABASE_URL"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(Path(__file__).parent / "translations"))

    from . import cli, deferred, errors, health, inputs, logout, logs, mail, metrics, oidc, saml, transactions
    from .auth.activation import bp as activation_bp
    from .auth.forgotten import bp as recovery_bp
    from .auth.sessions import write_session_cookie
    from .auth.views import bp as auth_bp
    from .oidc import keys as signing_keys
    from .oidc.documents import PublishedDocuments
    from .overload import LoginAdmission
    from .pages.views import bp as pages_bp
    from .security import set_security_headers
    from .self_service.views import bp as account_bp
    from .staff import bp as staff_bp
    from .throttle import throttle

    logs.configure(app)
    inputs.init_app(app)
    metrics.init_app(app)
    throttle.init_app(app)
    oidc.init_app(app)
    saml.init_app(app)
    mail.init_app(app)
    logout.init_app(app)
    deferred.init_app(app)
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(activation_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(staff_bp)
    health.init_app(app)
    errors.init_app(app)
    transactions.init_app(app)
    cli.init_app(app)
    app.after_request(write_session_cookie)
    app.after_request(set_security_headers)
    app.context_processor(lambda: {"current_locale": select_locale(), "languages": app.config["LANGUAGES"]})
    templating.init_app(app)
    app.wsgi_app = PublishedDocuments(app)
    app.wsgi_app = LoginAdmission(app)
    if app.config["PROXY_COUNT"]:
        # Outermost: whatever runs in front of Flask sees the client as the proxy saw it.
        count = app.config["PROXY_COUNT"]
        fixed = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_prefix=count)
        app.wsgi_app = TrustedProxies(fixed, app.wsgi_app, app.config["PROXY_ADDRESSES"])
    if not command_line:
        signing_keys.start(app)
        memory.use_one_malloc_arena()
    return app


def _configure(app, command_line=False):
    config = app.config
    if not config["KEYS_DIR"]:
        config["KEYS_DIR"] = str(Path(app.instance_path) / "keys" if INSTALLED else settings.ROOT / "keys")
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _development_secret(Path(config["KEYS_DIR"]))
    if not config["HASH_KEY"]:
        config["HASH_KEY"] = hashlib.sha256(b"idp-hash-key:" + config["SECRET_KEY"].encode()).hexdigest()
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(config, command_line)
    config["SESSION_COOKIE_NAME"] = "idp_ui"
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["WTF_CSRF_TIME_LIMIT"] = None  # the token lives as long as the UI cookie
    # Every validator carries its own translated message; WTForms' catalogue would be
    # loaded from disk for every form.
    config["WTF_I18N_ENABLED"] = False
    config["BABEL_DEFAULT_LOCALE"] = config["LANGUAGES"][0]
    config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Paris"
    config["JSON_SORT_KEYS"] = False
    # The design system's stylesheet, fonts and icons: kept an hour by browsers, rather than
    # asked again (seven requests) on every page.
    config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
    if config.get("TESTING"):
        app.jinja_env.undefined = StrictUndefined
    # app.logger is the "idp" logger, parent of "idp.audit": Flask gives it a handler to
    # standard error unless logging is configured already, so that the security events
    # reach gunicorn's log and the CLI's standard error.
    app.logger.setLevel(config["LOG_LEVEL"])
    # Authlib logs issued tokens at DEBUG level: never let that reach a log, whatever
    # level the deployment chooses.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger("authlib").level))


def _engine_options(config, command_line):
    """SQLAlchemy's engine options: the given SQLALCHEMY_ENGINE_OPTIONS over the defaults, and
    always `hide_parameters`, so that a database error's message (logged, or printed by a
    command) never carries a statement's values: pupils' names and birth dates, secrets'
    hashes."""
    options = {}
    connect_args = {}
    if config["DATABASE_URL"].startswith("postgresql"):
        from .oidc.fast_path import LazilyDescribedCursor

        # No pre-ping: it would cost a round trip per request; a connection that dies with a
        # database restart fails one request and the pool then reconnects.
        options = {"pool_size": 10, "max_overflow": 10, "pool_recycle": 3600}
        if config["FAST_PATH"]:
            connect_args["cursor_factory"] = LazilyDescribedCursor
        if config["STATEMENT_TIMEOUT"] > 0 and not command_line:
            # Set once per connection, when it is opened: no round trip per request. The
            # command line (imports, purge, sweep, mail worker) may run longer statements.
            # Options the URL gives (`?options=…`) are kept: connect_args replace them.
            given = make_url(config["DATABASE_URL"]).query.get("options", "")
            timeout = f"-c statement_timeout={int(config['STATEMENT_TIMEOUT'])}"
            connect_args["options"] = f"{' '.join(given) if isinstance(given, tuple) else given} {timeout}".strip()
    given = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args |= given.pop("connect_args", {})
    if connect_args:
        options["connect_args"] = connect_args
    return {**options, **given, "hide_parameters": True}


class TrustedProxies:
    """X-Forwarded-* read (through ProxyFix) only on requests that come from the proxies'
    addresses (PROXY_ADDRESSES; every peer when it is empty): a request that reaches a node
    without going through the proxy is taken as it comes, its X-Forwarded-* ignored, so
    that it cannot choose the address the throttling counts. `idp.trusted_proxy` in the
    environ says which way a request went (idp.overload reads the proxy's X-Request-Start)."""

    def __init__(self, fixed, plain, addresses):
        self.fixed, self.plain = fixed, plain
        self.networks = [ipaddress.ip_network(address, strict=False) for address in addresses]

    def trusted(self, peer):
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self.trusted(environ.get("REMOTE_ADDR", "")):
            environ["idp.trusted_proxy"] = True
            return self.fixed(environ, start_response)
        return self.plain(environ, start_response)


class CookieSessionOnDemand(SecureCookieSessionInterface):
    """Flask's signed-cookie session, without building a signer for requests that bring no
    cookie (the protocol endpoints: token, userinfo, discovery, JWKS)."""

    def open_session(self, app, request):
        # A request without any cookie does not even parse the Cookie header.
        if "HTTP_COOKIE" not in request.environ or app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def _development_secret(directory):
    """A random secret kept in the keys folder, for development without IDP_SECRET_KEY."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "secret.key"
    try:
        with open(path, "x") as handle:
            handle.write(secrets.token_hex(32))
        path.chmod(0o600)
    except FileExistsError:
        pass
    return path.read_text().strip()


def select_locale():
    """ui_locales of the request, then the language chosen on a page, else French.

    Never the browser's Accept-Language: parents follow a French paper guide ("Valider"),
    whatever language their browser is set to."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return languages[0]
    try:
        requested = request.values.get("ui_locales", "")
    except RequestEntityTooLarge:  # the page that refuses the body may not read it
        requested = request.args.get("ui_locales", "")
    for tag in requested.split():
        language = tag.split("-")[0].lower()
        if language in languages:
            if session.get("locale") != language:
                session["locale"] = language
            return language
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return languages[0]


def _sqlite_pragmas(dbapi_connection, connection_record):
    # SQLite enforces foreign keys only when asked; WAL lets readers and one writer overlap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
