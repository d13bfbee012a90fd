"""The connection of the protocol's hottest requests: refresh and userinfo.

Each of them reads with one statement and writes with at most one, each atomic on its own
(userinfo's SELECT; the refresh grant's client lookup, then the statement that spends the
refresh token and stores its successor). On PostgreSQL they run outside any transaction,
on a pooled connection the request keeps until its end: no BEGIN, COMMIT or ROLLBACK round
trips, none of the ORM session's bookkeeping, and still nothing half written. Elsewhere
(SQLite, for development and the tests) they run in the session's transaction, which the
views commit as usual.
"""

from flask import g

from ..extensions import db


def statement_connection():
    """The request's connection for the hot statements (see the module's docstring)."""
    connection = g.get("statement_connection")
    if connection is None:
        if not single_statement_writes():
            return db.session.connection()
        connection = g.statement_connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return connection


def single_statement_writes():
    """True when a write that spends a value and stores another can be one statement
    (PostgreSQL's data-modifying WITH), so that the hot requests need no transaction."""
    return db.engine.dialect.name == "postgresql"


def commit_session():
    """Commit the ORM session's transaction, if the request opened one (the refresh grant
    on PostgreSQL does not even create the session)."""
    if db.session.registry.has():
        db.session.commit()


def close_statement_connection(exception=None):
    connection = g.pop("statement_connection", None)
    if connection is not None:
        connection.close()


def init_app(app):
    app.teardown_appcontext(close_statement_connection)
