"""A relying party found by its client_id: the one lookup of the protocol (Authlib's
`query_client`), of the login page (which service a person is going to) and of the
`idp client` commands. The token endpoint's grants read their client through
idp.oidc.fast_path instead, after the same shape check. The protocol knows only the enabled
ones (`query_enabled_client`): a disabled relying party is no client at /authorize,
revocation, introspection nor logout, and the grants refuse it likewise."""

import re

from flask import g
from sqlalchemy import bindparam, select

from ..extensions import db
from ..models import Client

# Visible ASCII, at most the column's size.
CLIENT_ID = re.compile(r"[\x20-\x7e]{0,64}")
CLIENT_LOOKUP = select(Client).where(Client.client_id == bindparam("client_id"))


def well_formed_client_id(value):
    """False for what cannot be a client identifier (a NUL byte from a decoded URL, say):
    such a value is no client, and never reaches the database."""
    return isinstance(value, str) and CLIENT_ID.fullmatch(value) is not None


def query_client(client_id):
    """The relying party `client_id`, or None; looked up once per request (or command)
    however often Authlib asks."""
    if not well_formed_client_id(client_id):
        return None
    cache = g.setdefault("clients", {})
    if client_id not in cache:
        cache[client_id] = db.session.scalar(CLIENT_LOOKUP, {"client_id": client_id})
    return cache[client_id]


def query_enabled_client(client_id):
    """The relying party `client_id` if it is enabled, else None: the protocol's lookup."""
    client = query_client(client_id)
    return client if client is not None and client.is_enabled else None
