"""The shape of every protocol parameter, checked once before any protocol view runs.

RFC 6749 (Appendix A) makes most parameters visible ASCII. Authlib quotes some values in
its error descriptions and cannot build one with a character RFC 6749 §5.2 forbids; the
database columns bound others. A request that breaks a rule is refused `invalid_request`
as a whole, before Authlib or a query sees it.
"""

import base64
import re
from urllib.parse import unquote, urlencode

from authlib.oauth2.rfc6749 import InvalidRequestError

from ..auth.forms import LOGIN_FIELDS
from ..inputs import MAX_QUERY_STRING
from ..relying_parties.lookup import CLIENT_ID

VISIBLE = r"[\x20-\x7e]"
# What an error description may quote (RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E).
QUOTABLE = r"[\x20\x21\x23-\x5b\x5d-\x7e]"
TEXT = r"[^\x00-\x1f\x7f]"


def _rule(characters, longest):
    return re.compile(f"{characters}{{0,{longest}}}")


RULES = {
    "client_id": CLIENT_ID,  # the shape of every client_id (idp.relying_parties.lookup)
    "client_secret": _rule(VISIBLE, 256),
    "response_type": _rule(QUOTABLE, 64),
    "grant_type": _rule(QUOTABLE, 64),
    "redirect_uri": _rule(QUOTABLE, 500),
    "post_logout_redirect_uri": _rule(QUOTABLE, 500),
    "nonce": _rule(VISIBLE, 255),  # stored with the code
    "max_age": re.compile(r"[0-9]{0,9}"),
    "login_hint": _rule(TEXT, 255),
    "logout_hint": _rule(TEXT, 255),
    **{
        name: _rule(VISIBLE, MAX_QUERY_STRING)
        for name in (
            "scope",
            "state",
            "prompt",
            "display",
            "response_mode",
            "ui_locales",
            "claims_locales",
            "acr_values",
            "id_token_hint",
            "code",
            "code_challenge",
            "code_challenge_method",
            "code_verifier",
            "refresh_token",
            "access_token",
            "token",
            "token_type_hint",
        )
    },
}


def check_parameters(request):
    """Raise InvalidRequestError unless every parameter of `request` has its shape."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            rule = RULES.get(name)
            if rule is not None and not rule.fullmatch(value):
                raise InvalidRequestError(f"Invalid '{name}' parameter.")
    if request.endpoint == "oidc.authorize" and login_query_size(request.values) > MAX_QUERY_STRING:
        raise InvalidRequestError("The request is too large.")
    credentials = basic_credentials(request.headers.get("Authorization", ""))
    if credentials is not None:
        client_id, secret = credentials
        if not (RULES["client_id"].fullmatch(client_id) and RULES["client_secret"].fullmatch(secret)):
            raise InvalidRequestError("Invalid client credentials in the Authorization header.")
        if "client_secret" in request.form or "client_secret" in request.args:
            # RFC 6749 §2.3: one authentication method per request.
            raise InvalidRequestError("The client authenticated with more than one method.")


def login_query_size(parameters):
    """The length of the login page's query string for this authorization request: the
    request travels whole in URLs (nothing about it is stored), the longest being the login
    page's recovery links, whose `next` is the request encoded once more. It must fit the
    query bound, by GET or by POST (the login form's own fields aside)."""
    pairs = [(name, value) for name, value in parameters.items(multi=True) if name not in LOGIN_FIELDS]
    hints = [(name, value) for name, value in pairs if name in ("login_hint", "ui_locales")]
    return len(urlencode([("next", "/authorize?" + urlencode(pairs)), *hints]))


def basic_credentials(header):
    """The client_id and secret of an HTTP Basic header, as Authlib reads them, or None."""
    parts = header.split(None, 1)
    if " " in header and len(parts) != 2:  # "Basic " or "Bearer ", and nothing after
        raise InvalidRequestError("Malformed Authorization header.")
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None  # not Basic: Authlib ignores it
    try:
        pair = base64.b64decode(parts[1]).decode()
    except ValueError as error:  # not base64, or not UTF-8
        raise InvalidRequestError("Malformed Basic credentials.") from error
    client_id, _, secret = pair.partition(":")
    return unquote(client_id), unquote(secret)
