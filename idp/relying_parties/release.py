"""Which claims a relying party receives: those of the scopes it was granted, narrowed to its
registration's list (`Client.claims`, None: every claim of its scopes). Asking for more gets
less, never an error. Userinfo and the ID token, on either path, ask here."""

from ..models.oauth import CLAIMS_BY_SCOPE


def released_claims(scope, client):
    """The names of the claims `client` may receive with the scopes `scope` (`sub` is always
    released besides)."""
    names = {claim for item in scope.split() for claim in CLAIMS_BY_SCOPE.get(item, ())}
    if client.claims is not None:
        names &= set(client.claims)
    return names
