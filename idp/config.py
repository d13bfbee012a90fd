"""Every setting of the provider, its default and its environment variable.

`load()` builds the configuration in three layers: the defaults below, then the
`IDP_<NAME>` environment variables, then the dict given to `create_app`. The README's
settings table is generated from `SETTINGS` (`idp settings --markdown`) and a test
checks that the two agree.
"""

import os
from dataclasses import dataclass
from pathlib import Path

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
        "SQLAlchemy URL. A relative SQLite path lives in `instance/`; production uses `postgresql+psycopg://…`.",
    ),
    Setting(
        "REDIS_URL",
        "",
        "Redis URL for the throttling counters shared by several nodes (`redis://127.0.0.1:6379/0`). "
        "Empty: counters in process memory (one node only), as while Redis does not answer.",
    ),
    Setting("KEYS_DIR", str(ROOT / "keys"), "Folder of the signing keys (shared by every node)."),
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
        "ACTIVATION_DAYS",
        90,
        "Days an issued account has to be activated (the letter's deadline, counted from the issue date).",
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
        "Requests per address to the forms that check no secret but must be bounded (the recovery forms).",
    ),
    Setting(
        "THROTTLE_REDIS_RETRY",
        30,
        "Seconds between two tries of a Redis that stopped answering; meanwhile the counters live in process memory.",
        int,
    ),
    Setting("THROTTLE_KEY_PREFIX", "idp", "Prefix of the throttling counters in Redis, to share one Redis between deployments."),
    Setting("PROXY_COUNT", 0, "Number of reverse proxies in front of the provider whose X-Forwarded-* headers are trusted.", int),
    Setting("LANGUAGES", ["fr", "en"], "Languages of the pages, the first being the default.", list),
    Setting("LOG_LEVEL", "INFO", "Level of the application log."),
]


def _derived(config):
    if config["SESSION_COOKIE_SECURE"] is None:
        config["SESSION_COOKIE_SECURE"] = config["ISSUER"].startswith("https://")
    config["ISSUER"] = config["ISSUER"].rstrip("/")


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
        if setting.name == "KEYS_DIR":
            default = "keys/ (beside idp/)"
        elif isinstance(default, list):
            default = ",".join(default)
        shown = f"`{default}`" if default not in (None, "") else ""
        rows.append(f"| `{setting.env}` | {shown} | {setting.doc} |")
    return "\n".join(rows)
