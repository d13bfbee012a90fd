"""Health and readiness, for load balancers and supervisors (docs/operations.md, « Health »).

- `GET /healthz`: the process answers. It touches nothing: no database, no Redis, no file.
- `GET /readyz`: this node can serve logins. The database answers and is migrated to the
  code's Alembic head, and a signing key can sign: else 503, and the balancer sends the
  families elsewhere. Redis not answering is `degraded`, still 200: the throttle counts in
  process memory meanwhile; so is a node signing with an older key while it lacks the
  newest one's file (the error log names the file to copy).

Both answer JSON that names the checks and their state, never a setting, an address or an
error message. A readiness check costs one query (the Alembic revision), a Redis PING and
reading the signing keys from memory (the key store re-reads its table at most once a
minute): cheap enough to be asked every second. Neither sets a cookie, nor counts against a
request budget.
"""

from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .extensions import csrf, db
from .oidc.keys import KeyFileMissing, key_store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

bp = Blueprint("health", __name__)


@cache
def code_heads(directory=MIGRATIONS):
    """The Alembic heads of the code: read once per process."""
    return frozenset(ScriptDirectory(str(directory)).get_heads())


@bp.get("/healthz")
@csrf.exempt
def healthz():
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
@csrf.exempt
def readyz():
    checks = {"database": _database(), "keys": "unknown", "redis": current_app.extensions["idp.throttle"].redis_state()}
    if checks["database"] == "ok":
        checks["keys"] = _keys()
    if checks["database"] != "ok" or checks["keys"] == "missing":
        status, code = "unavailable", 503
    elif checks["redis"] == "down" or checks["keys"] == "stand_in":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return _answer({"status": status, "checks": checks}, code)


def _database():
    """ "ok", "unreachable", or "not_migrated" (the schema is not the code's head, or there is
    none)."""
    try:
        with db.engine.connect() as connection:
            revisions = frozenset(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except DBAPIError as error:
        return "not_migrated" if _no_such_table(error) else "unreachable"
    return "ok" if revisions == code_heads() else "not_migrated"


def _no_such_table(error):
    # PostgreSQL's undefined_table; SQLite says it in words.
    return getattr(error.orig, "sqlstate", None) == "42P01" or str(error.orig).startswith("no such table")


def _keys():
    """ "ok": the key that should sign is held; "stand_in": an older key signs while this node
    lacks the newest one's file; "missing": no key can sign."""
    try:
        return key_store().readiness()
    except (KeyFileMissing, SQLAlchemyError, RuntimeError):
        return "missing"


def _answer(body, status):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    app.register_blueprint(bp)
