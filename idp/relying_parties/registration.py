"""Registration of relying parties: the rules that the `idp client` commands and the
académie's pages (idp.staff.relying_parties) both call, with the same French messages.

The secret of a confidential client is generated here, returned once, and stored only as
a keyed hash. Redirect URIs are compared exactly at the authorization and logout
endpoints, so what is registered must be one precise address: absolute, https (http only
on a loopback address), without wildcard, credentials or fragment.
"""

import ipaddress
import re
import secrets
import string
from datetime import timedelta
from urllib.parse import urlsplit

from ..clock import now
from ..errors import InvalidInput
from ..extensions import db
from ..models import Client
from ..models.oauth import AUTH_METHODS, CATEGORIES, CLAIMS_BY_SCOPE, SCOPES, SUBJECT_TYPES
from ..security import keyed_hash
from .lookup import query_client

DEFAULT_SCOPES = ["openid", "profile", "email", "scolarite"]
REDIRECT_URI = "URI de redirection"
POST_LOGOUT_URI = "URI de retour après déconnexion"
BACKCHANNEL_LOGOUT_URI = "URI de déconnexion back-channel"
FRONTCHANNEL_LOGOUT_URI = "URI de déconnexion front-channel"
LOGO_URI = "URI du logo"
CONTACT_LENGTH = 200
# How long a former secret keeps working after a rotation, by default (an ENT switches to the
# new one without an outage), and at most.
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)
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


def check_choice(value, choices, what):
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


def check_name(name):
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Le nom du service est obligatoire.")
    if len(name) > 200:
        raise InvalidInput("Le nom du service est trop long (200 caractères au plus).")
    return name


def check_subject_type(subject_type, redirect_uris):
    """`subject_type` when it is one the provider gives and the registration can have it: a
    pairwise `sub` is computed for the host of the redirect URIs (the sector), so they must
    all share it (OpenID Connect Core §8.1)."""
    check_choice(subject_type, SUBJECT_TYPES, "Type d'identifiant (sub)")
    if subject_type == "pairwise":
        hosts = sorted({urlsplit(uri).hostname for uri in redirect_uris})
        if len(hosts) > 1:
            raise InvalidInput(
                "Identifiant par secteur (pairwise) refusé : toutes les URI de redirection doivent être sur un même hôte, "
                f"le secteur du service (ici : {', '.join(hosts)})."
            )
    return subject_type


def check_claims(claims, scopes):
    """The claims a relying party may receive, each one of a scope it has; None (every claim
    of its scopes) for none given."""
    claims = [claim.strip() for claim in claims or () if claim and claim.strip()]
    if not claims:
        return None
    allowed = {claim: scope for scope in scopes for claim in CLAIMS_BY_SCOPE.get(scope, ())}
    unknown = [claim for claim in claims if claim not in allowed]
    if unknown:
        known = ", ".join(allowed) or "aucune"
        raise InvalidInput(f"Information inconnue ou hors des scopes du service : {', '.join(unknown)} (possibles : {known}).")
    return list(dict.fromkeys(claims))


def check_logo_uri(uri):
    """The address of the logo shown on the consent page (the rules of a redirect URI), or None."""
    return check_uri(uri, LOGO_URI) if uri else None


def check_contact(contact):
    """The contact shown on the consent page (an address, a telephone line): one line of
    text, or None."""
    contact = (contact or "").strip()
    if not contact:
        return None
    if len(contact) > CONTACT_LENGTH:
        raise InvalidInput(f"Le contact est trop long ({CONTACT_LENGTH} caractères au plus).")
    if any(not character.isprintable() for character in contact):
        raise InvalidInput("Le contact doit tenir sur une ligne, sans caractère de contrôle.")
    return contact


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
    name,
    category,
    redirect_uris,
    post_logout_redirect_uris=(),
    auth_method="client_secret_basic",
    scopes=None,
    trusted=False,
    *,
    subject_type="public",
    claims=None,
    logo_uri=None,
    contact=None,
    **logout,
):
    """Create a relying party; return it and its secret (None for a public client). `logout`:
    its logout URIs and flags (LOGOUT_URIS, LOGOUT_FLAGS)."""
    name = check_name(name)
    if not redirect_uris:
        raise InvalidInput("Au moins une URI de redirection est obligatoire.")
    redirect_uris = _check_uris(redirect_uris, REDIRECT_URI)
    scopes = check_scopes(list(scopes or DEFAULT_SCOPES))
    client = Client(
        client_id=new_client_id(),
        name=name,
        category=check_choice(category, CATEGORIES, "Catégorie"),
        auth_method=check_choice(auth_method, AUTH_METHODS, "Méthode d'authentification"),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=_check_uris(post_logout_redirect_uris, POST_LOGOUT_URI),
        scopes=scopes,
        trusted=bool(trusted),
        backchannel_logout_session_required=False,
        frontchannel_logout_session_required=False,
        subject_type=check_subject_type(subject_type or "public", redirect_uris),
        claims=check_claims(claims, scopes.split()),
        logo_uri=check_logo_uri(logo_uri),
        contact=check_contact(contact),
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
    *,
    subject_type=None,
    claims=None,
    logo_uri=None,
    contact=None,
    **logout,
):
    """Change what was given (None: unchanged; a list replaces the registered one, an empty
    logout URI, logo or contact clears it, an empty list of claims releases every claim of the
    scopes); returns a new secret when a public client becomes confidential. Nothing given is
    refused. `changed_fields(before, describe(client))` names what changed."""
    given = [
        name,
        category,
        redirect_uris,
        post_logout_redirect_uris,
        scopes,
        trusted,
        auth_method,
        subject_type,
        claims,
        logo_uri,
        contact,
    ]
    given += [logout.get(key) for key in (*LOGOUT_URIS, *LOGOUT_FLAGS)]
    if all(value is None for value in given):
        raise InvalidInput("Rien à modifier : indiquez au moins un changement.")
    _set_logout(client, logout)
    if name is not None:
        client.name = check_name(name)
    if category is not None:
        client.category = check_choice(category, CATEGORIES, "Catégorie")
    if redirect_uris is not None:
        if not redirect_uris:
            raise InvalidInput("Au moins une URI de redirection est obligatoire.")
        client.redirect_uris = _check_uris(redirect_uris, REDIRECT_URI)
    if post_logout_redirect_uris is not None:
        client.post_logout_redirect_uris = _check_uris(post_logout_redirect_uris, POST_LOGOUT_URI)
    if scopes is not None:
        client.scopes = check_scopes(list(scopes))
    if trusted is not None:
        client.trusted = bool(trusted)
    # Checked on the registration as it now stands: new redirect URIs must still make one
    # sector, new scopes must still hold the claims chosen.
    client.subject_type = check_subject_type(subject_type if subject_type is not None else client.subject_type, client.redirect_uris)
    client.claims = check_claims(claims if claims is not None else client.claims, client.scope_list)
    if logo_uri is not None:
        client.logo_uri = check_logo_uri(logo_uri)
    if contact is not None:
        client.contact = check_contact(contact)
    secret = None
    if auth_method is not None and auth_method != client.auth_method:
        client.auth_method = check_choice(auth_method, AUTH_METHODS, "Méthode d'authentification")
        if client.is_public:
            client.secret_hash = None
            client.previous_secret_hash = client.previous_secret_expires_at = None
        elif client.secret_hash is None:
            secret = _new_secret(client)
    return secret


def changed_fields(before, after):
    """The names of the fields of `describe` that differ (what an audit records, never a secret)."""
    return [key for key in after if key in before and before[key] != after[key]]


UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "j": "days"}
DURATION = re.compile(r"(\d{1,6})\s*([smhdj]?)")


def parse_overlap(text):
    """A duration typed by an operator: "30m", "24h", "7d" (or "7j"), "0"; a bare number
    counts hours."""
    match = DURATION.fullmatch((text or "").strip().lower())
    if match is None:
        raise InvalidInput(f"Durée illisible : {text!r} (par exemple 0, 30m, 24h ou 7d).")
    return timedelta(**{UNITS[match.group(2) or "h"]: int(match.group(1))})


def rotate_secret(client, overlap=timedelta(0)):
    """A new secret for `client`, returned once; the former one keeps working for `overlap`
    (0: stops at once), so that the relying party can switch without an outage. A former
    secret still in its overlap is replaced by this one's predecessor."""
    if client.is_public:
        raise InvalidInput("Un service public (méthode d'authentification none) n'a pas de secret.")
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise InvalidInput(f"Durée de chevauchement refusée : de 0 à {MAX_OVERLAP.days} jours.")
    if overlap and client.secret_hash:
        client.previous_secret_hash = client.secret_hash
        client.previous_secret_expires_at = now() + overlap
    else:
        client.previous_secret_hash = client.previous_secret_expires_at = None
    return _new_secret(client)


def disable_client(client):
    """Stop `client` from being used (authorization, token endpoint, introspection,
    revocation; its access tokens at userinfo); its registration stays. False when it
    already was."""
    if client.disabled_at is not None:
        return False
    client.disabled_at = now()
    return True


def enable_client(client):
    """Let a disabled `client` be used again. False when it was not disabled."""
    if client.disabled_at is None:
        return False
    client.disabled_at = None
    return True


def remove_client(client):
    """Remove the registration; its codes, tokens and consents go with it (cascade)."""
    db.session.delete(client)


def _moment(value):
    return value.isoformat(timespec="seconds") if value else None


def describe(client):
    """The registration as the commands print it and the pages show it (never a secret)."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "category": client.category,
        "auth_method": client.auth_method,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scopes": client.scope_list,
        "claims": list(client.claims) if client.claims is not None else None,
        "trusted": client.trusted,
        "subject_type": client.subject_type,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
        "frontchannel_logout_session_required": client.frontchannel_logout_session_required,
        "logo_uri": client.logo_uri,
        "contact": client.contact,
        "disabled_at": _moment(client.disabled_at),
        "previous_secret_expires_at": _moment(client.previous_secret_expires_at),
        "created_at": _moment(client.created_at),
    }
