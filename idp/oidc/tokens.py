"""Access and refresh tokens: generation, storage as hashes, lookup, revocation."""

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, exists, insert, select, update

from ..accounts.access import relying_party_admits
from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import Account, AuthorizationCode, Client, Token
from ..security import new_token, token_hash
from .connection import HotStatement, execute, single_statement_writes


def generate_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    """Authlib's token generator: a refresh token only when `offline_access` was granted."""
    scope = scope or ""
    token = {
        "token_type": "Bearer",
        "access_token": new_token(),
        "expires_in": expires_in or current_app.config["ACCESS_TOKEN_LIFETIME"],
        "scope": scope,
    }
    if include_refresh_token and "offline_access" in scope.split():
        token["refresh_token"] = new_token()
    return token


# What every new token brings, bound under names that are no column of `token` (an
# UPDATE would take a parameter named after a column for a value to set).
BROUGHT = {
    "access_token_hash": "new_access_hash",
    "refresh_token_hash": "new_refresh_hash",
    "scope": "new_scope",
    "issued_at": "moment",
    "access_expires_at": "access_expiry",
    "refresh_expires_at": "refresh_expiry",
}


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


class SpendAndStore:
    """A value spent and the token it gives stored: both or nothing.

    `spend` updates the row of `table` whose id is bound as `key`; `store(source,
    *conditions)` inserts the token from rows of `source`, the spent row. On PostgreSQL
    they are one statement, a data-modifying WITH whose rowcount tells whether it spent:
    a concurrent request spending the same value waits for it, fails, and as a replay finds
    the token to revoke. Elsewhere they are two, inside the request's transaction. Their
    parameters are bound under names that are no column of either table.
    """

    def __init__(self, spend, table, key, returned, store):
        spent = spend.returning(*(table.c[column] for column in returned)).cte("spent")
        # The rowcount of an INSERT is kept by SQLAlchemy only when asked.
        self.together = HotStatement(store(spent).execution_options(preserve_rowcount=True))
        self.spend = HotStatement(spend)
        self.store = HotStatement(store(table, table.c.id == bindparam(key)))

    def __call__(self, params):
        """True when it spent and stored; False when the value could no longer be spent."""
        if single_statement_writes():
            return execute(self.together, params).rowcount == 1
        if execute(self.spend, params).rowcount != 1:
            return False
        execute(self.store, params)
        return True


# What a code's first token also brings: the rest of the family's origin.
FIRST = {
    "client_pk": "new_client_pk",
    "account_id": "new_account_id",
    "login_session_id": "new_login_session_id",
    "auth_time": "new_auth_time",
    "family": "new_family",
    **BROUGHT,
}
# Spends a code (`code_id`) if no other request spent it since it was read.
CODE_SPEND = (
    update(AuthorizationCode)
    .where(AuthorizationCode.id == bindparam("code_id"), AuthorizationCode.used_at.is_(None))
    .values(used_at=bindparam("moment"))
)


def _first_token(codes, *conditions):
    """INSERT of a code's first token: the code's id from `codes`, the rest bound."""
    table = Token.__table__
    brought = [bindparam(name, type_=table.c[column].type) for column, name in FIRST.items()]
    rows = select(codes.c.id, *brought).where(*conditions)
    return insert(Token).from_select(["authorization_code_id", *FIRST], rows)


EXCHANGE = SpendAndStore(CODE_SPEND, AuthorizationCode.__table__, "code_id", ["id"], _first_token)


def exchange_code(token, request):
    """Spend the code of a token request and store the token it gives: both or nothing.
    False when the code was spent by another request since it was read."""
    code = request.authorization_code
    return EXCHANGE(
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


# Spends a refresh token (`spent_id`) if it is still unspent, unrevoked and unexpired, and
# its account may still log in to its client.
SPEND = (
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
# What a successor inherits from the token it replaces.
INHERITED = ("client_pk", "account_id", "login_session_id", "authorization_code_id", "family", "auth_time")


def _successor(source, *conditions):
    """INSERT of the new token of a family: inherited from `source` (rows of `token`), the
    rest bound."""
    table = Token.__table__
    brought = [bindparam(name, type_=table.c[column].type) for column, name in BROUGHT.items()]
    rows = select(*(source.c[column] for column in INHERITED), *brought).where(*conditions)
    return insert(Token).from_select([*INHERITED, *BROUGHT], rows)


ROTATION = SpendAndStore(SPEND, Token.__table__, "spent_id", INHERITED, _successor)


def rotate_refresh_token(token, spent):
    """Spend the refresh token `spent` and store `token`, its successor in the family: both
    or nothing. False when `spent` can no longer be spent (see SPEND)."""
    return ROTATION(_brought(token, now()) | {"spent_id": spent.id})


LOOKUPS = {
    "access_token": select(Token).where(Token.access_token_hash == bindparam("digest")),
    "refresh_token": select(Token).where(Token.refresh_token_hash == bindparam("digest")),
}


def find_token(value, hint=None):
    """The token row an access or refresh token value designates, or None."""
    digest = token_hash(value)
    kinds = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in kinds:
        row = db.session.scalar(LOOKUPS[kind], {"digest": digest})
        if row is not None:
            row.presented_as = kind
            return row
    return None


def revoke_families(families, event, account=None, client=None):
    """Revoke every token descending from these authorizations (code replay, refresh reuse)."""
    result = db.session.execute(update(Token).where(Token.family.in_(families), Token.revoked_at.is_(None)).values(revoked_at=now()))
    audit(event, account=account, client=client, revoked=result.rowcount)


class Replay(Exception):
    """A spent code or refresh token presented again (RFC 9700 §4.14), found in an Authlib
    hook: hooks do not write, so it travels to the token view, which calls `revoke_replayed`."""

    def __init__(self, families, event, account, client):
        super().__init__(event)
        self.families, self.event, self.account, self.client = families, event, account, client


def revoke_replayed(replay):
    """Revoke what a replayed value produced, in a transaction of its own: the request's
    work is dropped, the revocation and its audit row are committed whole."""
    db.session.rollback()
    revoke_families(replay.families, replay.event, account=replay.account, client=replay.client)
    db.session.commit()
