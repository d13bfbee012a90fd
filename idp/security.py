"""Hashes for secrets we generate, and the HTTP security headers (docs/security.md,
« Generated secrets » and « Requests and pages »).

Secrets the provider generates (tokens, codes, session ids, client secrets) carry at
least 128 bits of entropy, so a fast hash is enough: SHA-256 for the protocol's values,
HMAC-SHA256 under a key kept outside the database for the secrets a person reads
(client secrets, provisional secrets). Chosen passwords use argon2id, in
`idp.accounts.passwords`.
"""

import hashlib
import hmac
import secrets
from urllib.parse import unquote, urlsplit

from flask import current_app, g


def new_token(nbytes=32):
    return secrets.token_urlsafe(nbytes)


def token_hash(value):
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_hash(value):
    key = current_app.config["HASH_KEY"].encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def keyed_hash_matches(value, stored):
    return hmac.compare_digest(keyed_hash(value), stored)


# What WHATWG URL parsing (every browser) does to a Location header before reading it:
# C0 controls and spaces around it are dropped, tabs and newlines anywhere are removed,
# and in an http(s) URL a backslash is a slash.
_AROUND = "".join(chr(code) for code in range(0x21))
_TABS_AND_NEWLINES = str.maketrans("", "", "\t\n\r")


def _as_browser_reads(value):
    return value.strip(_AROUND).translate(_TABS_AND_NEWLINES).replace("\\", "/")


def safe_next(target):
    """The path on this site to go to after a page (login, language), or None.

    `target` is read as a browser would read it (a tab between two slashes vanishes and
    leaves `//evil.com`, another site), and once more percent-decoded, so that no form of
    it names another host or a scheme. The path returned is the normalised one, the one
    checked.
    """
    if not isinstance(target, str):
        return None
    path = _as_browser_reads(target)
    for form in (path, _as_browser_reads(unquote(path))):
        if not form.startswith("/") or form.startswith("//"):
            return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return None
    return path


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:{images}; style-src 'self'; script-src 'self'; "
    "form-action 'self' {form_action}; frame-src 'self' {frame}; frame-ancestors {ancestors}; base-uri 'none'; object-src 'none'"
)


def _origin(uri):
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def allow_form_action(uri):
    """Let this page's forms end in a redirect to `uri`'s origin (a registered client URI).

    Browsers check CSP form-action on every redirect that follows a form post, so the
    login and consent pages must name the relying party they send the person back to.
    """
    origin = _origin(uri)
    if origin:
        g.setdefault("form_action_origins", set()).add(origin)


def allow_frame(uri):
    """Let this page load `uri` in a frame (a relying party's front-channel logout URI)."""
    origin = _origin(uri)
    if origin:
        g.setdefault("frame_origins", set()).add(origin)


def allow_framing_by_self():
    """Let this page be a frame of the provider's own pages (a frame of the logged-out page
    that posts a logout to a service provider); never of another site's."""
    g.framed_by_self = True


def allow_image(uri):
    """Let this page show an image from `uri`'s origin (a relying party's registered logo, on
    the consent page): that origin only, on that page only."""
    origin = _origin(uri)
    if origin:
        g.setdefault("image_origins", set()).add(origin)


def set_security_headers(response):
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        origins = " ".join(sorted(g.get("form_action_origins", ())))
        frames = " ".join(sorted(g.get("frame_origins", ())))
        images = "".join(f" {origin}" for origin in sorted(g.get("image_origins", ())))
        framed = g.get("framed_by_self", False)
        ancestors = "'self'" if framed else "'none'"
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
            form_action=origins, frame=frames, images=images, ancestors=ancestors
        )
        headers["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return response
