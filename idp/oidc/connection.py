"""The statements of the protocol's hottest requests: the token endpoint and userinfo.

Each of them reads with single statements and writes with at most one, each atomic on its
own (userinfo's SELECT; the code exchange's reads of its client, code and claims, then the
statement that spends the code and stores the token; the refresh grant's client lookup,
then the statement that spends the refresh token and stores its successor). On
PostgreSQL they run outside any transaction, on a pooled connection the request keeps
until its end: no BEGIN, COMMIT or ROLLBACK round trips, none of the ORM session's
bookkeeping, and still nothing half written.

They are written with SQLAlchemy Core like every other statement, but on PostgreSQL each is
compiled once and then executed on the driver's cursor (`HotStatement`): what
`Connection.execute` does per execution (cache key, parameters, result metadata, events)
costs about as much CPU as the driver's own work, and these requests do little else.
Elsewhere (SQLite, for development and the tests) they run through the session's
connection, in its transaction, which the views commit as usual.
"""

import weakref
from collections import namedtuple

from flask import g

from ..extensions import db


class HotStatement:
    """A Core statement compiled once per database dialect, for `execute`.

    The values written in the statement itself (a comparison with an enumeration member)
    are converted for the database once, when it is compiled; the columns read are
    converted as SQLAlchemy would (text to enumeration member). The values bound by the
    caller must be the driver's own types (text, numbers, timestamps): one that would need
    converting is refused when the statement is first compiled.
    """

    def __init__(self, statement):
        self.statement = statement
        self._compiled = weakref.WeakKeyDictionary()

    def compiled(self, dialect):
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _Compiled(self.statement, dialect)
        return compiled


class _Compiled:
    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise TypeError(f"a statement completed at each execution cannot be compiled once: {compiled.string}")
        self.sql = compiled.string
        self.fixed = {}
        for bind, name in compiled.bind_names.items():
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required and convert is not None:
                raise TypeError(f"the value bound as {name!r} would need converting: bind it as the database stores it")
            if not bind.required:
                self.fixed[name] = bind.value if convert is None else convert(bind.value)
        columns = list(statement.exported_columns)
        make = namedtuple("Row", [column.key for column in columns], rename=True)._make
        converters = [
            (index, convert)
            for index, column in enumerate(columns)
            if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]
        if converters:

            def row(values):
                values = list(values)
                for index, convert in converters:
                    values[index] = convert(values[index])
                return make(values)

            self.row = row
        else:
            self.row = make

    def row_factory(self, cursor):
        return self.row


def execute(statement, params):
    """Run a HotStatement; its result has `fetchone()`, `fetchall()` (rows with the
    columns as attributes) and `rowcount`."""
    if not single_statement_writes():
        return db.session.connection().execute(statement.statement, params)
    compiled = statement.compiled(db.engine.dialect)
    cursor = _driver_connection().cursor(row_factory=compiled.row_factory)
    return cursor.execute(compiled.sql, compiled.fixed | params)


def _driver_connection():
    """The request's pooled connection, in autocommit until it goes back to the pool."""
    pooled = g.get("statement_connection")
    if pooled is None:
        pooled = db.engine.raw_connection()
        try:
            pooled.driver_connection.autocommit = True
        except BaseException:
            pooled.invalidate()
            raise
        g.statement_connection = pooled
    return pooled.driver_connection


def single_statement_writes():
    """True when a write that spends a value and stores another can be one statement
    (PostgreSQL's data-modifying WITH), so that the hot requests need no transaction."""
    return db.engine.dialect.name == "postgresql"


def commit_session():
    """Commit the ORM session's transaction, if the request opened one (the token
    endpoint's grants on PostgreSQL do not even create the session)."""
    if db.session.registry.has():
        db.session.commit()


def close_statement_connection(exception=None):
    """Give the connection back to the pool as the pool lent it (in a transaction's mode);
    one that cannot be put back so (lost with its server) is discarded."""
    pooled = g.pop("statement_connection", None)
    if pooled is None:
        return
    try:
        pooled.driver_connection.autocommit = False
    except Exception:
        pooled.invalidate()
    pooled.close()


def init_app(app):
    app.teardown_appcontext(close_statement_connection)
