"""Registration of relying parties: the rules that the `idp client` commands (and the
académie's pages to come) call.

The secret of a confidential client is generated here, returned once, and stored only as
a keyed hash. Redirect URIs are compared exactly at the authorization and logout
endpoints, so what is registered must be one precise address: absolute, https (http only
on a loopback address), without wildcard, credentials or fragment.
"""

import ipaddress
import secrets
import string
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ..extensions import db
from ..models import Client
from ..models.oauth import AUTH_METHODS, CATEGORIES, SCOPES
from ..security import keyed_hash
from .lookup import query_client

DEFAULT_SCOPES = ["openid", "profile", "email", "scolarite"]
REDIRECT_URI = "URI de redirection"
POST_LOGOUT_URI = "URI de retour après déconnexion"
BACKCHANNEL_LOGOUT_URI = "URI de déconnexion back-channel"
FRONTCHANNEL_LOGOUT_URI = "URI de déconnexion front-channel"
# What a relying party registers for OpenID Connect Back-Channel and Front-Channel Logout
# (docs/relying-parties.md): each URI follows the rules of a redirect URI; "" clears it.
LOGOUT_URIS = {"backchannel_logout_uri": BACKCHANNEL_LOGOUT_URI, "frontchannel_logout_uri": FRONTCHANNEL_LOGOUT_URI}
LOGOUT_FLAGS = ("backchannel_logout_session_required", "frontchannel_logout_session_required")


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uri_problem(uri):
    """Why `uri` cannot be registered, or None."""
    if any(character.isspace() or not character.isprintable() for character in uri):
        return "espace ou caractère de contrôle"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        return "malformée"
    if parts.scheme not in ("https", "http") or not host:
        return "malformée : une URL absolue https:// est attendue"
    if "*" in uri:
        return "pas de joker * : l'URI est comparée à l'identique"
    if "@" in parts.netloc:
        return "pas d'identifiant ni de mot de passe (user:password@) dans l'URI"
    if "#" in uri:
        return "pas de fragment #"
    if parts.scheme == "http" and not _is_loopback(host):
        return "http n'est admis que sur 127.0.0.1, ::1 ou localhost"
    return None


def check_uri(uri, what=REDIRECT_URI):
    problem = _uri_problem(uri or "")
    if problem:
        raise InvalidInput(f"{what} refusée : {uri!r} ({problem}).")
    return uri


def _check_uris(uris, what):
    return [check_uri(uri, what) for uri in dict.fromkeys(uris)]


def check_scopes(scopes):
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise InvalidInput(f"Scope inconnu : {', '.join(unknown)} (connus : {', '.join(SCOPES)}).")
    if "openid" not in scopes:
        raise InvalidInput("Le scope openid est obligatoire.")
    return " ".join(dict.fromkeys(scopes))


def _check_choice(value, choices, what):
    if value not in choices:
        raise InvalidInput(f"{what} inconnue : {value!r} (choix : {', '.join(choices)}).")
    return value


def _set_logout(client, logout):
    """Record the logout registration given in `logout` (keys of LOGOUT_URIS and LOGOUT_FLAGS;
    None: unchanged); return the names of what was given."""
    unknown = set(logout) - set(LOGOUT_URIS) - set(LOGOUT_FLAGS)
    if unknown:
        raise TypeError(f"unknown logout registration: {', '.join(sorted(unknown))}")
    given = []
    for key, what in LOGOUT_URIS.items():
        uri = logout.get(key)
        if uri is not None:
            setattr(client, key, check_uri(uri, what) if uri else None)
            given.append(key)
    for key in LOGOUT_FLAGS:
        if logout.get(key) is not None:
            setattr(client, key, bool(logout[key]))
            given.append(key)
    return given


def _check_name(name):
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Le nom du service est obligatoire.")
    return name


def _new_secret(client):
    secret = secrets.token_urlsafe(32)
    client.secret_hash = keyed_hash(secret)
    return secret


CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def new_client_id():
    """24 letters and digits (142 bits): never a leading "-" that a command line would read
    as an option, nothing to escape in a URL."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(24))


def register_client(
    name, category, redirect_uris, post_logout_redirect_uris=(), auth_method="client_secret_basic", scopes=None, trusted=False, **logout
):
    """Create a relying party; return it and its secret (None for a public client). `logout`:
    its logout URIs and flags (LOGOUT_URIS, LOGOUT_FLAGS)."""
    name = _check_name(name)
    if not redirect_uris:
        raise InvalidInput("Au moins une URI de redirection est obligatoire.")
    client = Client(
        client_id=new_client_id(),
        name=name,
        category=_check_choice(category, CATEGORIES, "Catégorie"),
        auth_method=_check_choice(auth_method, AUTH_METHODS, "Méthode d'authentification"),
        redirect_uris=_check_uris(redirect_uris, REDIRECT_URI),
        post_logout_redirect_uris=_check_uris(post_logout_redirect_uris, POST_LOGOUT_URI),
        scopes=check_scopes(list(scopes or DEFAULT_SCOPES)),
        trusted=trusted,
        backchannel_logout_session_required=False,
        frontchannel_logout_session_required=False,
    )
    _set_logout(client, logout)
    secret = None if client.is_public else _new_secret(client)
    db.session.add(client)
    return client, secret


def find_client(client_id):
    """The relying party `client_id`; refused when there is none."""
    client = query_client(client_id)
    if client is None:
        raise InvalidInput(f"Service inconnu : {client_id!r}.")
    return client


def update_client(
    client,
    name=None,
    category=None,
    redirect_uris=None,
    post_logout_redirect_uris=None,
    scopes=None,
    trusted=None,
    auth_method=None,
    **logout,
):
    """Change what was given (a list replaces the registered one, an empty logout URI clears
    it); returns a new secret when a public client becomes confidential. Nothing given is
    refused."""
    given = [name, category, auth_method, trusted, *(logout.get(key) for key in (*LOGOUT_URIS, *LOGOUT_FLAGS))]
    if all(value is None for value in given) and not (redirect_uris or post_logout_redirect_uris or scopes):
        raise InvalidInput("Rien à modifier : indiquez au moins un changement.")
    _set_logout(client, logout)
    if name is not None:
        client.name = _check_name(name)
    if category is not None:
        client.category = _check_choice(category, CATEGORIES, "Catégorie")
    if redirect_uris:
        client.redirect_uris = _check_uris(redirect_uris, REDIRECT_URI)
    if post_logout_redirect_uris:
        client.post_logout_redirect_uris = _check_uris(post_logout_redirect_uris, POST_LOGOUT_URI)
    if scopes:
        client.scopes = check_scopes(list(scopes))
    if trusted is not None:
        client.trusted = trusted
    secret = None
    if auth_method is not None and auth_method != client.auth_method:
        client.auth_method = _check_choice(auth_method, AUTH_METHODS, "Méthode d'authentification")
        if client.is_public:
            client.secret_hash = None
        elif client.secret_hash is None:
            secret = _new_secret(client)
    return secret


def rotate_secret(client):
    if client.is_public:
        raise InvalidInput("Un service public (méthode d'authentification none) n'a pas de secret.")
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
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
        "frontchannel_logout_session_required": client.frontchannel_logout_session_required,
        "created_at": client.created_at.isoformat(timespec="seconds") if client.created_at else None,
    }
