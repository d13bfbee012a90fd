"""A relying party's view of the provider, driven through the Flask test client.

ID tokens are verified with PyJWT (not Authlib) against the JWKS the provider publishes.
"""

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LOGIN_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>\s*<input id="csrf_token"')


def csrf_token(html):
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def login_form_action(response):
    """Where the login form of this page posts, or None when the page is not the login form."""
    if response.status_code != 200 or "text/html" not in response.content_type:
        return None
    match = LOGIN_FORM.search(response.text)
    return html.unescape(match.group(1)) if match and 'name="password"' in response.text else None


def asks_to_log_in(response):
    """True when the authorization endpoint answered with the login form (no redirect)."""
    return login_form_action(response) is not None


def query_of(location):
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class RelyingParty:
    def __init__(self, client, client_id, secret, auth_method, redirect_uri, issuer):
        self.client = client
        self.client_id = client_id
        self.secret = secret
        self.auth_method = auth_method
        self.redirect_uri = redirect_uri
        self.issuer = issuer

    def new_browser(self):
        """Continue with a browser that has no cookies (another person, or after closing it)."""
        self.client = self.client.application.test_client()

    # --- authorization endpoint -------------------------------------------------------

    def authorize_params(self, **params):
        values = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
        }
        values.update(params)
        return {key: value for key, value in values.items() if value is not None}

    def authorize(self, method="GET", **params):
        values = self.authorize_params(**params)
        if method == "POST":
            return self.client.post("/authorize", data=values), values
        return self.client.get("/authorize?" + urlencode(values)), values

    def log_in(self, page, identifier, password):
        """Fill in the login form the authorization endpoint showed; returns the answer (the
        redirect to the relying party when the login is right)."""
        action = login_form_action(page)
        assert action is not None, (page.status_code, page.text[:500])
        assert urlsplit(action).path == "/authorize", action
        form = {"identifier": identifier, "password": password, "csrf_token": csrf_token(page.text)}
        return self.client.post(action, data=form)

    def follow_to_callback(self, response):
        """Follow local redirects until the one that leaves for the relying party."""
        while response.status_code in (302, 303) and not response.location.startswith(self.redirect_uri):
            response = self.client.get(response.location)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return query_of(response.location)

    def log_in_and_get_code(self, identifier, password, **params):
        """Authorize, logging in when the provider asks (single sign-on may skip it)."""
        response, values = self.authorize(**params)
        if asks_to_log_in(response):
            response = self.log_in(response, identifier, password)
        callback = self.follow_to_callback(response)
        assert callback.get("state") == values["state"]
        assert "code" in callback, callback
        return callback["code"], values

    # --- token endpoint -----------------------------------------------------------------

    def token_request(self, data, auth_method=None):
        method = auth_method or self.auth_method
        data = dict(data)
        headers = {}
        if method == "client_secret_basic":
            credentials = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        elif method == "client_secret_post":
            data.update(client_id=self.client_id, client_secret=self.secret)
        else:
            data["client_id"] = self.client_id
        return self.client.post("/token", data=data, headers=headers)

    def exchange(self, code, **extra):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        data.update(extra)
        return self.token_request(data)

    def refresh(self, refresh_token):
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def full_login(self, identifier, password, **params):
        code, values = self.log_in_and_get_code(identifier, password, **params)
        response = self.exchange(code)
        assert response.status_code == 200, response.json
        tokens = response.json
        claims = self.verify_id_token(tokens["id_token"], nonce=values.get("nonce"))
        return tokens, claims

    # --- ID tokens ----------------------------------------------------------------------

    def verify_id_token(self, id_token, nonce=None):
        jwks = jwt.PyJWKSet.from_dict(self.client.get("/jwks.json").json)
        header = jwt.get_unverified_header(id_token)
        key = next(item for item in jwks.keys if item.key_id == header["kid"])
        claims = jwt.decode(
            id_token,
            key=key.key,
            algorithms=["RS256"],
            audience=self.client_id,
            issuer=self.issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
        )
        if nonce is not None:
            assert claims["nonce"] == nonce
        else:
            assert "nonce" not in claims
        return claims
