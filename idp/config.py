"""Every setting of the provider, its default and its environment variable.

`load()` builds the configuration in three layers: the defaults below, then the
`IDP_<NAME>` environment variables, then the dict given to `create_app`. The README's
settings table is generated from `SETTINGS` (`idp settings --markdown`) and a test
checks that the two agree.
"""

import os
from dataclasses import dataclass
from pathlib import Path

# The top level of a checkout (idp/, templates/, keys/ side by side); installed, only
# the package is there and idp.INSTALLED says so.
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    doc: str
    kind: type = str

    @property
    def env(self):
        return f"IDP_{self.name}"

    def parse(self, raw):
        if self.kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if self.kind is int:
            return int(raw)
        if self.kind is list:
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw


SETTINGS = [
    Setting("ISSUER", "http://127.0.0.1:5000", "Issuer identifier: the public base URL of the provider, without trailing slash."),
    Setting(
        "SECRET_KEY",
        "",
        "Signs cookies and CSRF tokens. When empty, a random key is created once in `KEYS_DIR/secret.key` (development only).",
    ),
    Setting(
        "HASH_KEY",
        "",
        "Key of the HMAC-SHA256 that hashes client and provisional secrets, kept outside the database. "
        "When empty, derived from `SECRET_KEY`.",
    ),
    Setting(
        "DATABASE_URL",
        "sqlite:///idp.sqlite3",
        "SQLAlchemy URL. A relative SQLite path lives in the instance folder; production uses `postgresql+psycopg://…`.",
    ),
    Setting(
        "REDIS_URL",
        "",
        "Redis URL for the throttling counters shared by several nodes (`redis://127.0.0.1:6379/0`). "
        "Empty: counters in process memory (one node only), as while Redis does not answer.",
    ),
    Setting(
        "KEYS_DIR",
        "",
        "Folder of the private signing keys, one `<kid>.pem` each: the same files on every node (the database names them). "
        "Empty: `keys/` beside `idp/` in a checkout, `keys/` in the instance folder when installed.",
    ),
    Setting("AUTHORIZATION_CODE_LIFETIME", 60, "Seconds an authorization code stays usable.", int),
    Setting("ACCESS_TOKEN_LIFETIME", 3600, "Seconds an access token stays valid.", int),
    Setting("ID_TOKEN_LIFETIME", 3600, "Seconds an ID token stays valid; a retired signing key stays in the JWKS this long.", int),
    Setting("REFRESH_TOKEN_LIFETIME", 30 * 24 * 3600, "Seconds a refresh token stays valid (rotated at every use).", int),
    Setting("SESSION_IDLE_LIFETIME", 3600, "Seconds of inactivity after which a login session ends.", int),
    Setting("SESSION_ABSOLUTE_LIFETIME", 12 * 3600, "Seconds after the login at which a login session ends, active or not.", int),
    Setting("SESSION_COOKIE_SECURE", None, "Send cookies over HTTPS only. Default: on when the issuer is https.", bool),
    Setting("ARGON2_TIME_COST", 2, "argon2id iterations for chosen passwords.", int),
    Setting("ARGON2_MEMORY_COST", 19456, "argon2id memory in KiB (19 MiB).", int),
    Setting("ARGON2_PARALLELISM", 1, "argon2id lanes.", int),
    Setting(
        "ARGON2_CONCURRENCY",
        1,
        "argon2id computations at once per process: with one worker process per core, 1 keeps every core busy "
        "and a worker's memory to one computation's.",
        int,
    ),
    Setting(
        "ARGON2_NICE",
        10,
        "Niceness of the threads that compute argon2id (Linux): they take the CPU that tokens, userinfo, pages and "
        "refusals leave, so that those are served first under a rush of logins. 0: the same priority.",
        int,
    ),
    Setting(
        "OVERLOAD_LOGINS",
        2,
        "Logins in progress (password checks running or waiting) per worker process at which a new login page or a login "
        "form's answer is answered at once « Trop de connexions en ce moment : réessayez dans une minute » (503, `Retry-After`), "
        "while tokens, userinfo and the pages of people logged in go on. 0: no bound.",
        int,
    ),
    Setting(
        "OVERLOAD_QUEUE_MS",
        0,
        "Milliseconds a login page or form's answer may have waited since the trusted proxy received it (its "
        "`X-Request-Start: t=<seconds>` header, nginx's `$msec`; read only with `PROXY_COUNT`) before it is refused the same "
        "way. 0: not checked. The proxy's and the nodes' clocks must agree (NTP).",
        int,
    ),
    Setting("PASSWORD_MIN_LENGTH", 8, "Minimum length of a chosen password (letters and digits required).", int),
    Setting(
        "THROTTLE_FREE_FAILURES",
        5,
        "Failed credential checks of one identifier from one address before the next check of the pair has to wait.",
        int,
    ),
    Setting(
        "THROTTLE_BASE_DELAY",
        60,
        "Seconds a pair waits after its free failures; the wait doubles at every further failure.",
        int,
    ),
    Setting("THROTTLE_MAX_DELAY", 3600, "Longest wait of a pair, in seconds.", int),
    Setting(
        "THROTTLE_FORGET_AFTER",
        86400,
        "Seconds after its last failure at which a pair starts afresh (the right secret clears it at once).",
        int,
    ),
    Setting(
        "THROTTLE_PER_IDENTIFIER",
        "50 per 15 minutes",
        "Failures of one identifier, from every address, past which each address waits from its first failure "
        "(slows a guess spread over many addresses; an address that has not failed still gets its try).",
    ),
    Setting(
        "THROTTLE_PER_IP",
        "300 per 15 minutes",
        "Failures from one address, whatever the identifiers, past which its checks wait for the end of the window; "
        "high enough for a school's families behind one address.",
    ),
    Setting(
        "THROTTLE_RECOVERY_PER_IP",
        "20 per hour",
        "Requests per address (and per account, for the activation email buttons) to the forms that check no secret "
        "but must be bounded: each recovery form, the buttons that send the activation email again.",
    ),
    Setting(
        "RECOVERY_EMAILS",
        "3 per hour",
        "Emails of « mot de passe oublié » one account receives, and of « identifiant oublié » one address receives, "
        "whoever asks; past it, asking again sends nothing until the window ends (the page stays the same).",
    ),
    Setting(
        "THROTTLE_REDIS_RETRY",
        30,
        "Seconds between two tries of a Redis that stopped answering; meanwhile the counters live in process memory.",
        int,
    ),
    Setting("THROTTLE_KEY_PREFIX", "idp", "Prefix of the throttling counters in Redis, to share one Redis between deployments."),
    Setting(
        "FAST_PATH",
        True,
        "The token endpoint and userinfo run their statements compiled once, on the driver (idp/oidc/fast_path.py); "
        "off: through the ORM, as every other request.",
        bool,
    ),
    Setting(
        "STATEMENT_TIMEOUT",
        10000,
        "Milliseconds a database statement of a web request may run before PostgreSQL cancels it (the person gets an "
        "error page, the worker goes on); 0: no limit. The `idp` command runs without it.",
        int,
    ),
    Setting(
        "IMPORT_MAX_BYTES",
        50 * 1024 * 1024,
        "Largest school file an import reads, in bytes, and the most a zip may unpack to (a large lycée's SIECLE export "
        "with addresses is about 10 MiB).",
        int,
    ),
    Setting(
        "IMPORT_MAX_ROWS",
        30000,
        "Most rows a school CSV may have, and most records of one kind (pupils, persons, links) in a SIECLE export: "
        "a lycée of 5,000 pupils has about 10,000 rows and 20,000 links.",
        int,
    ),
    Setting(
        "LETTERS_PER_FILE",
        2000,
        "Most accounts issued, and letters printed, at once: one click of the back office's issue page, one PDF of "
        "`idp accounts issue` (which writes as many as needed), whole classes when they fit. A letter holds about 7 KB "
        "of a worker's memory until its PDF is sent.",
        int,
    ),
    Setting("PROXY_COUNT", 0, "Number of reverse proxies in front of the provider whose X-Forwarded-* headers are trusted.", int),
    Setting(
        "PROXY_ADDRESSES",
        [],
        "Addresses or networks of the reverse proxy that talks to the nodes (`10.0.0.10`, `10.0.0.0/29`), comma-separated: "
        "X-Forwarded-* are read only on requests from them, any other peer's are ignored. Empty: from any peer (the nodes "
        "must then be reachable by the proxy only).",
        list,
    ),
    Setting("ACTIVATION_DAYS", 90, "Days an issued account has to be activated (its activation link lives as long); then it expires.", int),
    Setting("INACTIVITY_DAYS", 365, "Days without a login after which an active account is invalidated.", int),
    Setting("INACTIVITY_WARNING_DAYS", 30, "Days before the invalidation at which the warning email is sent.", int),
    Setting(
        "PASSWORD_RESET_MINUTES",
        60,
        "Minutes a « mot de passe oublié » link and its temporary password stay usable (once).",
        int,
    ),
    Setting("EMAIL_CHANGE_DAYS", 7, "Days the link that confirms a new email address (« gérer son compte ») stays valid.", int),
    Setting("ENT_NAME", "L'Educ de Normandie", "Name of the ENT, which pages offer to go to once an account is active."),
    Setting("ENT_URL", "https://www.l-educdenormandie.fr/", "Address of the ENT, which pages offer to go to once an account is active."),
    Setting("LANGUAGES", ["fr", "en"], "Languages of the pages, the first being the default.", list),
    Setting("LOG_LEVEL", "INFO", "Level of the application log."),
    Setting(
        "LOG_FORMAT",
        "text",
        "`text`, or `json`: the application's log, and gunicorn's through the logger class of deploy/gunicorn.conf.py, "
        "as one JSON object per line (time, level, logger, message, request_id).",
    ),
    Setting(
        "AUDIT_RETENTION_DAYS",
        365,
        "Days the audit log keeps an event; `idp purge` deletes older ones. 0: kept forever.",
        int,
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        "Bearer token that opens `/metrics` (`Authorization: Bearer …`). With `METRICS_ALLOW` empty too, `/metrics` answers 404.",
    ),
    Setting(
        "METRICS_ALLOW",
        [],
        "Client addresses or networks (CIDR), comma-separated, from which `/metrics` opens without the token, "
        "e.g. `127.0.0.1,10.0.0.0/24`.",
        list,
    ),
    Setting("MAIL_SERVER", "localhost", "SMTP server that sends the emails."),
    Setting("MAIL_PORT", 25, "Port of the SMTP server.", int),
    Setting("MAIL_USE_TLS", False, "Upgrade the SMTP connection with STARTTLS (usually port 587).", bool),
    Setting("MAIL_USE_SSL", False, "Connect to the SMTP server over TLS from the start (usually port 465).", bool),
    Setting("MAIL_USERNAME", "", "SMTP login; empty: no authentication."),
    Setting("MAIL_PASSWORD", "", "SMTP password (never printed nor logged)."),
    Setting(
        "MAIL_DEFAULT_SENDER",
        "Téléservices - Académie de Normandie <ne-pas-repondre@ac-normandie.fr>",
        "Sender (From) of every email.",
    ),
    Setting("MAIL_TIMEOUT", 10, "Seconds to wait for the SMTP server at each step before the message waits for a later attempt.", int),
    Setting(
        "MAIL_SEND_AFTER_COMMIT",
        True,
        "Send a request's emails in the background as soon as its transaction commits; off: only `idp mail flush` or "
        "`idp mail worker` send them.",
        bool,
    ),
    Setting("MAIL_RETRY_DAYS", 4, "Days during which an email that could not be sent is retried before it is given up (audited).", int),
    Setting(
        "MAIL_OUTBOX_KEY",
        "",
        "Key material of the AES-256-GCM key (derived by HKDF-SHA256) that encrypts the bodies of the emails waiting in the outbox; "
        "kept outside the database. Empty: derived from `HASH_KEY` with a label of its own.",
    ),
    Setting(
        "MAIL_OUTBOX_PREVIOUS_KEYS",
        [],
        "Earlier values of `MAIL_OUTBOX_KEY` (or of `HASH_KEY` while it was empty), comma-separated: they still open the emails "
        "queued before a rotation. Remove them `MAIL_RETRY_DAYS` after the rotation.",
        list,
    ),
    Setting("MAIL_KEEP_DAYS", 7, "Days the outbox keeps the trace (recipient, template, times) of a sent or given-up email.", int),
    Setting(
        "LOGOUT_RETRY_HOURS",
        24,
        "Hours during which a back-channel logout notice a relying party did not accept is retried before it is given up (audited).",
        int,
    ),
    Setting("LOGOUT_TIMEOUT", 5, "Seconds to wait for a relying party's back-channel logout URI before the attempt counts as failed.", int),
    Setting(
        "LOGOUT_SEND_AFTER_COMMIT",
        True,
        "Send back-channel logout notices in the background as soon as the session's end commits; off: only "
        "`idp logout-notices flush` or `idp logout-notices worker` send them.",
        bool,
    ),
    Setting(
        "LOGOUT_ALLOW_LOOPBACK_HTTP",
        False,
        "Deliver back-channel logout notices over plain http to a loopback address (development, the demo); otherwise https only.",
        bool,
    ),
    Setting("LOGOUT_KEEP_DAYS", 7, "Days the trace of a delivered or given-up logout notice is kept.", int),
    Setting("SAML_ENTITY_ID", "", "The SAML identity provider's entity ID. When empty, `<ISSUER>/saml/metadata` (docs/saml.md)."),
    Setting("SAML_ASSERTION_LIFETIME", 300, "Seconds an assertion is valid (its `NotOnOrAfter`).", int),
    Setting(
        "SAML_REQUEST_MAX_AGE",
        3600,
        "Seconds after its `IssueInstant` an AuthnRequest is still answered (the login page may take that long); "
        "its ID is remembered that long against replays.",
        int,
    ),
    Setting("SAML_XMLSEC_BINARY", "/usr/bin/xmlsec1", "The `xmlsec1` program that signs, checks and encrypts SAML messages.", str),
]


def _derived(config):
    if config["SESSION_COOKIE_SECURE"] is None:
        config["SESSION_COOKIE_SECURE"] = config["ISSUER"].startswith("https://")
    config["ISSUER"] = config["ISSUER"].rstrip("/")
    if not config.get("SAML_ENTITY_ID"):
        config["SAML_ENTITY_ID"] = config["ISSUER"] + "/saml/metadata"


def load(overrides=None):
    """Defaults, then the environment, then `overrides`."""
    config = {setting.name: setting.default for setting in SETTINGS}
    for setting in SETTINGS:
        raw = os.environ.get(setting.env)
        if raw is not None and raw != "":
            config[setting.name] = setting.parse(raw)
    config.update(overrides or {})
    _derived(config)
    return config


def markdown_table():
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        if isinstance(default, bool):
            default = int(default)
        elif isinstance(default, list):
            default = ",".join(default)
        shown = f"`{default}`" if default not in (None, "") else ""
        rows.append(f"| `{setting.env}` | {shown} | {setting.doc} |")
    return "\n".join(rows)
