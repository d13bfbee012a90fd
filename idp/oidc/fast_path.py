"""The fast path: every statement of the protocol's hottest requests, and the rows they give.

The token endpoint (code exchange, refresh) and userinfo are what relying parties call most,
and do little besides reading a few rows and writing one. This module owns everything they
read and write:

- **Statements.** Each is SQLAlchemy Core, compiled once for the application's database
  when the application is created (`init_app`): a statement that cannot be compiled once
  stops the start, not the first login. It then runs on the driver's cursor, without what
  `Connection.execute` does per execution (cache key, parameters, result metadata, events:
  about as much CPU as the driver's own work). On PostgreSQL it runs outside any
  transaction, on a pooled connection the request keeps until its end: each statement is
  atomic on its own, and a write that spends a value and stores the token it gives is one
  data-modifying `WITH`. On SQLite it runs on the session's connection, in the request's
  transaction, and such a write is two statements.
- **Rows.** One type per statement, a named tuple of its columns with the rules Authlib
  asks of a client, a code or a token, the same whatever the database. A statement whose
  columns share a name cannot make a row: the import fails.
- **The switch.** With `FAST_PATH` off (`IDP_FAST_PATH=false`), the same functions read
  through the ORM session and write in the request's transaction, and give the same row
  types; nothing else changes. The tests of the token endpoint and userinfo run both ways.

Who calls what: the grants (idp.oidc.grants) read the client, the code, the refresh token
and the person, and spend a code or a refresh token with `exchange_code` and
`rotate_refresh_token`; userinfo (idp.oidc.endpoints) reads the access grant. The values
bound are the driver's own types (text, numbers, timestamps); a bound value whose type
would need converting is converted (SQLite's timestamps are text), the columns read are
converted as the ORM would (text to enumeration member, JSON to lists).
"""

import secrets
from collections import namedtuple
from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace

import psycopg
from authlib.oauth2.rfc6749 import TokenMixin
from flask import current_app, g
from sqlalchemy import and_, bindparam, exists, insert, select, update

from ..accounts.access import pupils_of, relying_party_admits, relying_party_refusal
from ..clock import now
from ..extensions import db
from ..metrics import TOKENS
from ..models import Account, AuthorizationCode, Client, LegalGuardian, LoginSession, Token
from ..models.oauth import AuthorizationCodeRules, ClientRules
from ..security import token_hash
from ..transactions import note_write
from .claims import CLAIM_COLUMNS, CLIENT_CLAIM_COLUMNS, SCHOOLING_COLUMNS, with_schooling

# Every statement of the fast path, compiled and checked by `init_app`.
STATEMENTS = []


class HotStatement:
    """A Core statement compiled once per application, and the type of its rows.

    `rules` are mixed into the row type (ClientRules, AuthorizationCodeRules): a row is then
    what Authlib asks for, without copying its columns into another object.
    """

    def __init__(self, name, statement, rules=(), only=None):
        self.name = name
        self.statement = statement
        # The databases the statement is meant for (None: every one).
        self.only = only
        self.row = None
        if statement.is_select:
            fields = [column.key for column in statement.exported_columns]
            duplicates = sorted({key for key in fields if fields.count(key) > 1})
            if duplicates:
                raise TypeError(f"{name}: columns {duplicates} share a name; label them")
            self.row = type(name, (*rules, namedtuple(name, fields)), {"from_object": classmethod(_from_object)})
        STATEMENTS.append(self)

    def all(self, params):
        """The rows of the statement with `params`."""
        return _compiled(self).rows(params)

    def first(self, params):
        rows = self.all(params)
        return rows[0] if rows else None

    def run(self, params):
        """Run a statement that returns no rows; its rowcount."""
        return _compiled(self).run(params)


def _from_object(row_type, source, **values):
    """A row of this type from an object with the same attributes (a mapped object), some of
    them given in `values`."""
    return row_type._make(values[field] if field in values else getattr(source, field) for field in row_type._fields)


class _Compiled:
    """A HotStatement compiled for one database dialect."""

    def __init__(self, hot, dialect):
        compiled = hot.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise TypeError(f"{hot.name}: a statement completed at each execution cannot be compiled once")
        self.sql = compiled.string
        self.order = list(compiled.positiontup) if compiled.positional else None
        self.fixed, self.converters = {}, {}
        for bind, name in compiled.bind_names.items():
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                if convert is not None:
                    self.converters[name] = convert
            else:
                self.fixed[name] = bind.value if convert is None else convert(bind.value)
        self.make_row = None
        if hot.row is not None:
            make = hot.row._make
            columns = list(hot.statement.exported_columns)
            converters = [
                (index, convert)
                for index, column in enumerate(columns)
                if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
            ]

            def make_row(values):
                values = list(values)
                for index, convert in converters:
                    values[index] = convert(values[index])
                return make(values)

            self.make_row = make_row if converters else make
        self.postgresql = dialect.name == "postgresql"

    def parameters(self, params):
        values = self.fixed | params
        for name, convert in self.converters.items():
            values[name] = convert(values[name])
        if self.order is not None:
            return tuple(values[name] for name in self.order)
        return values

    def _execute(self, params, row_factory=None):
        if self.postgresql:
            connection = _driver_connection()
            cursor = connection.cursor(row_factory=row_factory) if row_factory else connection.cursor()
        else:
            cursor = db.session.connection().connection.driver_connection.cursor()
        cursor.execute(self.sql, self.parameters(params))
        return cursor

    def rows(self, params):
        if self.postgresql:
            return self._execute(params, lambda cursor: self.make_row).fetchall()
        return [self.make_row(values) for values in self._execute(params).fetchall()]

    def run(self, params):
        if not self.postgresql:
            note_write(db.session)  # in the request's transaction: its view commits it
        return self._execute(params).rowcount


def _compiled(hot):
    return current_app.extensions["idp.fast_path"].compiled[hot]


def enabled():
    return current_app.extensions["idp.fast_path"].enabled


def single_statement_writes():
    """True when a write that spends a value and stores another can be one statement
    (PostgreSQL's data-modifying WITH), so that the hot requests need no transaction."""
    return db.engine.dialect.name == "postgresql"


# --- the PostgreSQL connection of a request ----------------------------------------------


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


def commit():
    """Commit the ORM session's transaction, if the request opened one (the token
    endpoint's fast path on PostgreSQL does not even create the session)."""
    if db.session.registry.has():
        db.session.commit()


class LazilyDescribedCursor(psycopg.Cursor):
    """psycopg's cursor, which builds the description of a result's columns only when one of
    them is read (PostgreSQL engines use it while the fast path is on: idp.create_app).

    SQLAlchemy asks every result for its description, but reads the columns only the first
    time a statement runs, then keeps the result's shape with the compiled statement; psycopg
    builds an object per column each time, a third of the CPU of a wide SELECT on the hot
    paths. The columns are those of the cursor's current result when first read, which
    SQLAlchemy does right after executing (a cursor per statement).
    """

    @property
    def description(self):
        result = self.pgresult
        if result is None or (not result.nfields and result.status not in _ROWS):
            return None
        return _Columns(self, result.nfields)


# The statuses of a result that returns rows (psycopg returns a description for them even
# when they have no column).
_ROWS = {psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.SINGLE_TUPLE, psycopg.pq.ExecStatus.TUPLES_CHUNK}


class _Columns(Sequence):
    __slots__ = ("_count", "_cursor", "_described")

    def __init__(self, cursor, count):
        self._cursor, self._count, self._described = cursor, count, None

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        if self._described is None:
            self._described = psycopg.Cursor.description.fget(self._cursor)
        return self._described[index]


# --- the client at the token endpoint ----------------------------------------------------

# What Authlib reads of a client to authenticate it at the token endpoint (the former secret
# during a rotation's overlap), its key, and whether it is disabled.
CLIENT_AUTHENTICATION_COLUMNS = (
    Client.id,
    Client.client_id,
    Client.secret_hash,
    Client.auth_method,
    Client.previous_secret_hash,
    Client.previous_secret_expires_at,
    Client.disabled_at,
)

# A client as a code exchange reads it: to authenticate it, the redirect URI to check, the
# category for the door rule, the scopes it may be given, what its ID token may say and under
# which `sub` (the redirect URIs also give its sector).
CLIENT = HotStatement(
    "ClientRow",
    select(*CLIENT_AUTHENTICATION_COLUMNS, Client.category, Client.redirect_uris, Client.scopes, Client.subject_type, Client.claims).where(
        Client.client_id == bindparam("client_id")
    ),
    rules=(ClientRules,),
)


def client(client_id):
    """The relying party `client_id` as the code exchange needs it, or None."""
    if enabled():
        return CLIENT.first({"client_id": client_id})
    found = db.session.scalar(select(Client).where(Client.client_id == client_id))
    return CLIENT.row.from_object(found) if found is not None else None


# --- the authorization code --------------------------------------------------------------

# The code presented (with the `sid` of the session it was given in), if it is this client's,
# spent or not: `exchange_code` spends it as it stores the token, unless another request did
# since.
CODE = HotStatement(
    "CodeRow",
    select(
        AuthorizationCode.id,
        AuthorizationCode.account_id,
        AuthorizationCode.login_session_id,
        AuthorizationCode.redirect_uri,
        AuthorizationCode.scope,
        AuthorizationCode.nonce,
        AuthorizationCode.auth_time,
        AuthorizationCode.code_challenge,
        AuthorizationCode.code_challenge_method,
        AuthorizationCode.expires_at,
        AuthorizationCode.used_at,
        LoginSession.sid,
    )
    .outerjoin(LoginSession, LoginSession.id == AuthorizationCode.login_session_id)
    .where(AuthorizationCode.code_hash == bindparam("digest"), AuthorizationCode.client_pk == bindparam("presenting_client")),
    rules=(AuthorizationCodeRules,),
)


def presented_code(code, client):
    """The code `code` if `client` was given it, spent or not, or None."""
    if enabled():
        return CODE.first({"digest": token_hash(code), "presenting_client": client.id})
    found = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == token_hash(code), AuthorizationCode.client_pk == client.id)
    )
    if found is None:
        return None
    return CODE.row.from_object(found, sid=found.login_session.sid if found.login_session is not None else None)


# --- the refresh token -------------------------------------------------------------------

# The refresh grant's one read: the client presenting a refresh token, and that token's
# columns if it is this client's (else NULLs). Authlib authenticates the client from the
# row before the grant looks at the token.
PRESENTING_CLIENT = HotStatement(
    "PresentingClientRow",
    select(
        *CLIENT_AUTHENTICATION_COLUMNS,
        Token.id.label("token_id"),
        Token.account_id,
        Token.scope,
        Token.refresh_used_at,
        Token.revoked_at,
        Token.refresh_expires_at,
    )
    .outerjoin(Token, and_(Token.refresh_token_hash == bindparam("digest"), Token.client_pk == Client.id))
    .where(Client.client_id == bindparam("client_id")),
    rules=(ClientRules,),
)


def client_presenting(client_id, refresh_token):
    """The relying party `client_id` with the columns of the refresh token it presents
    (`token_id` None when the value is no refresh token of this client), or None."""
    digest = token_hash(refresh_token or "")
    if enabled():
        return PRESENTING_CLIENT.first({"client_id": client_id, "digest": digest})
    found = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if found is None:
        return None
    token = db.session.scalar(select(Token).where(Token.refresh_token_hash == digest, Token.client_pk == found.id))
    columns = {key: getattr(token, key) if token is not None else None for key in _TOKEN_FIELDS}
    return PRESENTING_CLIENT.row.from_object(found, token_id=token.id if token is not None else None, **columns)


_TOKEN_FIELDS = ("account_id", "scope", "refresh_used_at", "revoked_at", "refresh_expires_at")


class PresentedRefreshToken(TokenMixin):
    """A refresh token that may be spent, as the grant and `rotate_refresh_token` need it."""

    def __init__(self, row):
        self.id = row.token_id
        self.account_id = row.account_id
        self.scope = row.scope

    def check_client(self, client):
        return True  # PRESENTING_CLIENT only finds the presenting client's tokens

    def get_scope(self):
        return self.scope


# --- the person: the rows an ID token's claims are made of ------------------------------

PERSON = HotStatement(
    "PersonRow",
    with_schooling(
        select(Account.id, *CLAIM_COLUMNS, relying_party_admits(bindparam("category")).label("allowed")).where(
            Account.id == bindparam("account_id")
        )
    ),
)


class Person:
    """An account as a grant hands it to the ID token: the rows its claims are made of, the
    relying party they are for, and whether the account may use it."""

    def __init__(self, rows, client):
        self.rows = rows
        self.client = client
        self.id = rows[0].id
        self.allowed = rows[0].allowed


def person(account_id, client):
    """The account `account_id` as the ID token for `client` (a CLIENT row) needs it."""
    if enabled():
        return Person(PERSON.all({"account_id": account_id, "category": client.category}), client)
    account = db.session.get(Account, account_id)
    allowed = relying_party_refusal(account, SimpleNamespace(category=client.category)) is None
    return Person(_rows_of(PERSON.row, account, allowed=allowed), client)


def _rows_of(row_type, account, **values):
    """The rows `with_schooling` gives for `account`, built from mapped objects: one per pupil
    the account stands for, in the order of their ids, or one without pupil."""
    pupils = sorted(pupils_of(account), key=lambda pupil: pupil.id)
    schooling = [_schooling(account, pupil) for pupil in pupils] or [dict.fromkeys(_SCHOOLING_FIELDS)]
    return [row_type.from_object(account, **values, **columns) for columns in schooling]


_SCHOOLING_FIELDS = [column.key for column in SCHOOLING_COLUMNS]


def _schooling(account, pupil):
    guardian = db.session.scalar(select(LegalGuardian).where(LegalGuardian.pupil_id == pupil.id, LegalGuardian.account_id == account.id))
    values = (
        pupil.given_name,
        pupil.family_name,
        pupil.ine,
        pupil.school_key,
        pupil.left_on,
        pupil.establishment.uai,
        pupil.establishment.degree,
        guardian.given_name if guardian is not None else None,
        guardian.family_name if guardian is not None else None,
    )
    return dict(zip(_SCHOOLING_FIELDS, values, strict=True))


# --- userinfo: the access grant ----------------------------------------------------------

# Userinfo's one query: the token's state, what its relying party may receive and under which
# `sub`, and the rows its claims are made of, if the account may still log in to the token's
# relying party and that one is not disabled.
ACCESS = HotStatement(
    "AccessRow",
    with_schooling(
        select(
            Token.scope,
            Token.access_expires_at,
            Token.revoked_at,
            Client.client_id,
            *(getattr(Client, name) for name in CLIENT_CLAIM_COLUMNS),
            *CLAIM_COLUMNS,
        )
        .join(Account, Token.account_id == Account.id)
        .join(Client, Token.client_pk == Client.id)
        .where(Token.access_token_hash == bindparam("digest"), Client.disabled_at.is_(None), relying_party_admits())
    ),
)


class AccessGrant(TokenMixin):
    """An access token as userinfo sees it: the rows of ACCESS (the hottest endpoint)."""

    def __init__(self, rows):
        self.rows = rows
        self.token = rows[0]
        self.scope = self.token.scope  # Authlib's userinfo endpoint reads the attribute

    def get_scope(self):
        return self.token.scope

    def is_expired(self):
        return self.token.access_expires_at <= now()

    def is_revoked(self):
        return self.token.revoked_at is not None

    def get_user(self):
        return self.rows

    def get_client(self):
        return SimpleNamespace(client_id=self.token.client_id, client_metadata={})


def access_grant(access_token):
    """The access token `access_token` with its claims' rows, if its account may still use
    its relying party; else None."""
    digest = token_hash(access_token)
    if enabled():
        rows = ACCESS.all({"digest": digest})
    else:
        token = db.session.scalar(select(Token).where(Token.access_token_hash == digest))
        if token is None or not token.client.is_enabled or relying_party_refusal(token.account, token.client) is not None:
            return None
        rows = _rows_of(
            ACCESS.row,
            token.account,
            client_id=token.client.client_id,
            **{key: getattr(token.client, key) for key in CLIENT_CLAIM_COLUMNS},
            **{key: getattr(token, key) for key in _ACCESS_FIELDS},
        )
    return AccessGrant(rows) if rows else None


_ACCESS_FIELDS = ("scope", "access_expires_at", "revoked_at")


# --- writes: a value spent and the token it gives stored, both or nothing ---------------


# What every new token brings, bound under names that are no column of `token` (an UPDATE
# would take a parameter named after a column for a value to set).
BROUGHT = {
    "access_token_hash": "new_access_hash",
    "refresh_token_hash": "new_refresh_hash",
    "scope": "new_scope",
    "issued_at": "moment",
    "access_expires_at": "access_expiry",
    "refresh_expires_at": "refresh_expiry",
}
# What a code's first token also brings: the rest of the family's origin.
FIRST = {
    "client_pk": "new_client_pk",
    "account_id": "new_account_id",
    "login_session_id": "new_login_session_id",
    "auth_time": "new_auth_time",
    "family": "new_family",
    **BROUGHT,
}
# What a successor inherits from the refresh token it replaces.
INHERITED = ("client_pk", "account_id", "login_session_id", "authorization_code_id", "family", "auth_time")


class SpendAndStore:
    """A value spent and the token it gives stored: both or nothing.

    `spend` updates the row of `table` whose id is bound as `key`; `store(source,
    *conditions)` inserts the token from rows of `source`, the spent row. On PostgreSQL
    they are one statement, a data-modifying WITH whose rowcount tells whether it spent:
    a concurrent request spending the same value waits for it, fails, and as a replay finds
    the token to revoke. On SQLite they are two, inside the request's transaction; with the
    fast path off, `spend` runs through the session and the token is added as a mapped
    object (`orm_token(params)`).
    """

    def __init__(self, name, spend, table, key, returned, store, orm_token):
        spent = spend.returning(*(table.c[column] for column in returned)).cte("spent")
        # The rowcount of an INSERT is kept by SQLAlchemy only when asked.
        self.together = HotStatement(f"{name}Together", store(spent).execution_options(preserve_rowcount=True), only="postgresql")
        self.spend = HotStatement(f"{name}Spend", spend)
        self.store = HotStatement(f"{name}Store", store(table, table.c.id == bindparam(key)))
        self.orm_token = orm_token

    def __call__(self, params):
        """True when it spent and stored; False when the value could no longer be spent."""
        if not enabled():
            if db.session.execute(self.spend.statement, params, execution_options={"synchronize_session": False}).rowcount != 1:
                return False
            db.session.add(self.orm_token(params))
            return True
        if single_statement_writes():
            return self.together.run(params) == 1
        if self.spend.run(params) != 1:
            return False
        self.store.run(params)
        return True


def _brought(token, moment):
    """The values of BROUGHT for `token`, issued at `moment`."""
    refresh = token.get("refresh_token")
    return {
        "moment": moment,
        "new_access_hash": token_hash(token["access_token"]),
        "new_refresh_hash": token_hash(refresh) if refresh else None,
        "new_scope": token["scope"],
        "access_expiry": moment + timedelta(seconds=token["expires_in"]),
        "refresh_expiry": moment + timedelta(seconds=current_app.config["REFRESH_TOKEN_LIFETIME"]) if refresh else None,
    }


def _columns(names, params):
    """The values of `params` bound under `names` (column → parameter), by column."""
    return {column: params[name] for column, name in names.items()}


def _first_token(codes, *conditions):
    """INSERT of a code's first token: the code's id from `codes`, the rest bound."""
    table = Token.__table__
    brought = [bindparam(name, type_=table.c[column].type) for column, name in FIRST.items()]
    rows = select(codes.c.id, *brought).where(*conditions)
    return insert(Token).from_select(["authorization_code_id", *FIRST], rows)


def _first_token_object(params):
    return Token(authorization_code_id=params["code_id"], **_columns(FIRST, params))


# Spends a code (`code_id`) if no other request spent it since it was read.
CODE_SPEND = (
    update(AuthorizationCode)
    .where(AuthorizationCode.id == bindparam("code_id"), AuthorizationCode.used_at.is_(None))
    .values(used_at=bindparam("moment"))
)
EXCHANGE = SpendAndStore("Exchange", CODE_SPEND, AuthorizationCode.__table__, "code_id", ["id"], _first_token, _first_token_object)


def exchange_code(token, request):
    """Spend the code of a token request and store the token it gives: both or nothing.
    False when the code was spent by another request since it was read."""
    code = request.authorization_code
    stored = EXCHANGE(
        _brought(token, now())
        | {
            "code_id": code.id,
            "new_client_pk": request.client.id,
            "new_account_id": request.user.id,
            "new_login_session_id": code.login_session_id,
            "new_auth_time": code.auth_time,
            "new_family": secrets.token_hex(16),
        }
    )
    if stored:
        TOKENS.labels(grant_type="authorization_code").inc()
    return stored


# Spends a refresh token (`spent_id`) if it is still unspent, unrevoked and unexpired, and
# its account may still log in to its client.
REFRESH_SPEND = (
    update(Token)
    .where(
        Token.id == bindparam("spent_id"),
        Token.refresh_used_at.is_(None),
        Token.revoked_at.is_(None),
        Token.refresh_expires_at > bindparam("moment"),
        exists().where(Account.id == Token.account_id, Client.id == Token.client_pk, relying_party_admits()),
    )
    .values(refresh_used_at=bindparam("moment"))
)


def _successor(source, *conditions):
    """INSERT of the new token of a family: inherited from `source` (rows of `token`), the
    rest bound."""
    table = Token.__table__
    brought = [bindparam(name, type_=table.c[column].type) for column, name in BROUGHT.items()]
    rows = select(*(source.c[column] for column in INHERITED), *brought).where(*conditions)
    return insert(Token).from_select([*INHERITED, *BROUGHT], rows)


def _successor_object(params):
    spent = db.session.get(Token, params["spent_id"])
    return Token(**{column: getattr(spent, column) for column in INHERITED}, **_columns(BROUGHT, params))


ROTATION = SpendAndStore("Rotation", REFRESH_SPEND, Token.__table__, "spent_id", INHERITED, _successor, _successor_object)


def rotate_refresh_token(token, spent):
    """Spend the refresh token `spent` and store `token`, its successor in the family: both
    or nothing. False when `spent` can no longer be spent (see REFRESH_SPEND)."""
    stored = ROTATION(_brought(token, now()) | {"spent_id": spent.id})
    if stored:
        TOKENS.labels(grant_type="refresh_token").inc()
    return stored


# --- set-up ------------------------------------------------------------------------------


class _FastPath:
    def __init__(self, enabled, compiled):
        self.enabled = enabled
        self.compiled = compiled


def init_app(app):
    """Compile every statement for the application's database, when the fast path is on: a
    statement that cannot be compiled once, or whose values or columns cannot be converted,
    stops the start here."""
    compiled = {}
    if app.config["FAST_PATH"]:
        with app.app_context():
            dialect = db.engine.dialect
        for hot in STATEMENTS:
            if hot.only not in (None, dialect.name):
                continue
            try:
                compiled[hot] = _Compiled(hot, dialect)
            except Exception as error:
                raise RuntimeError(f"The fast path's statement {hot.name} cannot run on {dialect.name}: {error}") from error
    app.extensions["idp.fast_path"] = _FastPath(app.config["FAST_PATH"], compiled)
    app.teardown_appcontext(close_statement_connection)
