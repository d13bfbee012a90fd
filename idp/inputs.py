"""What any request may bring: the checks every page and endpoint shares (docs/security.md,
« Requests and pages »).

Bad input is refused here with a 400 (the French error page, or JSON on the protocol
endpoints), before a view could turn it into a database error: bounded sizes, parameters
without control characters (PostgreSQL refuses NUL in text, and nothing a person types
holds the others), and a client address that is an IP address (with trusted proxies it
comes from X-Forwarded-For, and is stored). The protocol endpoints add the shape of
their own parameters in `idp.oidc.parameters`.
"""

import ipaddress
import re
from itertools import chain

from flask import abort, current_app, request

MAX_CONTENT_LENGTH = 64 * 1024
MAX_QUERY_STRING = 4 * 1024
# The SAML endpoints carry a signed message in their query (idp.saml.views).
MAX_LONG_QUERY_STRING = 64 * 1024
# Longest text form of an IP address (IPv4-mapped IPv6), the size of the ip columns.
MAX_ADDRESS_LENGTH = 45
# C0 controls other than tab and newlines, and DEL.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def init_app(app):
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    # First of all the before_request functions: CSRF protection reads the form too.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_malformed_request)


def accepts_uploads(max_bytes):
    """Let a view's requests bring up to `max_bytes` (files), instead of MAX_CONTENT_LENGTH:
    a number, or a function of the application's configuration that gives it."""

    def mark(view):
        view.max_content_length = max_bytes
        return view

    return mark


def accepts_long_queries(view):
    """Let a view's query strings reach MAX_LONG_QUERY_STRING (SAML messages by HTTP-Redirect,
    and the AuthnRequest the login page carries on)."""
    view.max_query_string = MAX_LONG_QUERY_STRING
    return view


def refuse_malformed_request():
    view = current_app.view_functions.get(request.endpoint)
    limit = getattr(view, "max_content_length", None)
    if callable(limit):
        limit = limit(current_app.config)
    if limit is not None:
        # Before the form is read below: the body is parsed once, under this limit.
        request.max_content_length = limit
    if len(request.query_string) > getattr(view, "max_query_string", MAX_QUERY_STRING):
        request.query_string = b""  # dropped, so that the error page cannot echo it
        abort(414)
    if not is_address(request.remote_addr) or CONTROL.search(request.headers.get("User-Agent", "")):
        abort(400)
    path = ((name, value) for name, value in (request.view_args or {}).items() if isinstance(value, str))
    for name, value in chain(path, request.args.items(multi=True), request.form.items(multi=True)):
        if CONTROL.search(name) or CONTROL.search(value):
            abort(400)


def is_address(address):
    """True for an IP address, or for none at all (a server on a Unix socket gives none)."""
    if not address:
        return True
    if len(address) > MAX_ADDRESS_LENGTH:
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
