"""Access and refresh tokens: generation, storage as hashes, lookup, revocation."""

from flask import current_app
from sqlalchemy import bindparam, select, update

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import Token
from ..security import new_token, token_hash


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
