"""Registration of relying parties by administrators (the `idp client` commands).

The secret of a confidential client is generated here, returned once, and stored only as
a keyed hash.
"""

import ipaddress
import secrets
from urllib.parse import urlsplit

from sqlalchemy import select

from ..extensions import db
from ..models import Client
from ..models.oauth import AUTH_METHODS, CATEGORIES
from ..oidc.claims import SCOPES
from ..security import keyed_hash
from . import InvalidInput

DEFAULT_SCOPES = ["openid", "profile", "email", "scolarite"]


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_uri(uri, what="redirect URI"):
    """An absolute https URI, or http on a loopback address; no fragment."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise InvalidInput(f"{what} malformé : {uri!r}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput(f"{what} malformé : {uri!r} (une URL absolue https:// est attendue)")
    if parts.fragment:
        raise InvalidInput(f"{what} invalide : {uri!r} (pas de fragment #)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidInput(f"{what} refusé : {uri!r} (http n'est admis que sur 127.0.0.1, ::1 ou localhost)")
    return uri


def check_scopes(scopes):
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise InvalidInput(f"scope inconnu : {', '.join(unknown)} (connus : {', '.join(SCOPES)})")
    if "openid" not in scopes:
        raise InvalidInput("le scope openid est obligatoire")
    return " ".join(dict.fromkeys(scopes))


def _check_choice(value, choices, what):
    if value not in choices:
        raise InvalidInput(f"{what} inconnu : {value!r} (choix : {', '.join(choices)})")
    return value


def _new_secret(client):
    secret = secrets.token_urlsafe(32)
    client.secret_hash = keyed_hash(secret)
    return secret


def register_client(
    name, category, redirect_uris, post_logout_redirect_uris=(), auth_method="client_secret_basic", scopes=None, trusted=False
):
    """Create a relying party; return it and its secret (None for a public client)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("le nom du service est obligatoire")
    if not redirect_uris:
        raise InvalidInput("au moins une --redirect-uri est obligatoire")
    client = Client(
        client_id=secrets.token_urlsafe(18),
        name=name,
        category=_check_choice(category, CATEGORIES, "catégorie"),
        auth_method=_check_choice(auth_method, AUTH_METHODS, "méthode d'authentification"),
        redirect_uris=[check_uri(uri) for uri in dict.fromkeys(redirect_uris)],
        post_logout_redirect_uris=[check_uri(uri, "post-logout URI") for uri in dict.fromkeys(post_logout_redirect_uris)],
        scopes=check_scopes(list(scopes or DEFAULT_SCOPES)),
        trusted=trusted,
    )
    secret = None if client.is_public else _new_secret(client)
    db.session.add(client)
    return client, secret


def find_client(client_id):
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is None:
        raise InvalidInput(f"service inconnu : {client_id!r}")
    return client


def update_client(
    client, name=None, category=None, redirect_uris=None, post_logout_redirect_uris=None, scopes=None, trusted=None, auth_method=None
):
    """Change what was given; returns a new secret when a public client becomes confidential."""
    if name is not None:
        if not name.strip():
            raise InvalidInput("le nom du service est obligatoire")
        client.name = name.strip()
    if category is not None:
        client.category = _check_choice(category, CATEGORIES, "catégorie")
    if redirect_uris:
        client.redirect_uris = [check_uri(uri) for uri in dict.fromkeys(redirect_uris)]
    if post_logout_redirect_uris:
        client.post_logout_redirect_uris = [check_uri(uri, "post-logout URI") for uri in dict.fromkeys(post_logout_redirect_uris)]
    if scopes:
        client.scopes = check_scopes(list(scopes))
    if trusted is not None:
        client.trusted = trusted
    secret = None
    if auth_method is not None and auth_method != client.auth_method:
        client.auth_method = _check_choice(auth_method, AUTH_METHODS, "méthode d'authentification")
        if client.is_public:
            client.secret_hash = None
        elif client.secret_hash is None:
            secret = _new_secret(client)
    return secret


def rotate_secret(client):
    if client.is_public:
        raise InvalidInput("un service public (auth-method none) n'a pas de secret")
    return _new_secret(client)


def describe(client):
    return {
        "client_id": client.client_id,
        "name": client.name,
        "category": client.category,
        "auth_method": client.auth_method,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scopes": client.scope_list,
        "trusted": client.trusted,
        "created_at": client.created_at.isoformat(timespec="seconds") if client.created_at else None,
    }
