"""The `sub` a relying party knows an account by: every door that names an account to a
relying party (ID token, userinfo, introspection, logout token, the hints it sends back)
asks here.

A `public` relying party knows the account's own `sub` (random, kept by regeneration). A
`pairwise` one (OpenID Connect Core §8.1) knows a value made for its sector only: an HMAC of
the sector identifier and the public `sub`, under a key derived from HASH_KEY with a label of
its own (docs/security.md, « Pairwise subjects »). It is stable (same account, same sector:
same value, across logins and regenerations), equal for the relying parties of one sector,
and no two sectors can correlate theirs without the key, which is not in the database.
A SAML service provider's persistent NameID is the pairwise subject of its entity ID
(relying_parties/saml.py).
"""

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app

PAIRWISE = "pairwise"
_LABEL = b"idp pairwise subject"


def sector_identifier(client):
    """The host of the relying party's redirect URIs (the registration requires one host for a
    pairwise relying party): the sector its pairwise subjects are made for."""
    uris = client.redirect_uris or []
    return (urlsplit(uris[0]).hostname or "") if uris else ""


def _pairwise_key():
    return hmac.new(current_app.config["HASH_KEY"].encode(), _LABEL, hashlib.sha256).digest()


def pairwise_subject(sector, sub):
    """The pairwise `sub` of the account whose public `sub` is `sub`, for `sector`."""
    digest = hmac.new(_pairwise_key(), f"{sector}\x00{sub}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def subject_for(client, sub):
    """The subject identifier of the account whose public `sub` is `sub`, for `client`."""
    if client.subject_type == PAIRWISE:
        return pairwise_subject(sector_identifier(client), sub)
    return sub
