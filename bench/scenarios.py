"""What one virtual client does, over and over, in each measured scenario.

A scenario is built for one client (its index among `clients`), may `prepare` (log in
to hold tokens), then repeats `run_once`; an unexpected answer raises UnexpectedReply.

The targets are the issue's. The login has absolute ones (per server core, and its p99);
each other hot path is compared with its floor, a scenario of the bare Flask application
(bench/floor_app.py) measured under the same server: its target is a ratio of per-core rates.
"""

import base64
import itertools
import json
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from transport import Cookies

# The login of the issue: an ENT asking for a refresh token.
LOGIN_SCOPE = "openid profile offline_access"
# What an ENT reads from userinfo: the family's names, email and schooling claims.
USERINFO_SCOPE = "openid profile email scolarite"
CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class UnexpectedReply(Exception):
    pass


def expect(reply, status):
    if reply.status != status:
        raise UnexpectedReply(f"HTTP {reply.status} where {status} was expected: {reply.body[:300]!r}")
    return reply


class RelyingParty:
    """The seeded confidential client, as a browser and its back end see the provider."""

    def __init__(self, seed):
        self.seed = seed
        credentials = base64.b64encode(f"{seed.client_id}:{seed.client_secret}".encode()).decode()
        self.token_headers = FORM | {"Authorization": f"Basic {credentials}"}

    def log_in(self, transport, identifier, scope):
        """The full password login in a fresh browser: the form shown by the authorization
        endpoint, its answer (the redirect with the code), then the relying party's tokens."""
        browser = Cookies()
        state = secrets.token_urlsafe(8)
        query = {
            "response_type": "code",
            "client_id": self.seed.client_id,
            "redirect_uri": self.seed.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": secrets.token_urlsafe(8),
        }
        authorization = "/authorize?" + urlencode(query)
        page = expect(browser.send(transport, "GET", authorization), 200)
        csrf = CSRF.search(page.body)
        if csrf is None:
            raise UnexpectedReply("the login form has no CSRF token")
        form = {"identifier": identifier, "password": self.seed.password, "csrf_token": csrf.group(1).decode()}
        callback = expect(browser.send(transport, "POST", authorization, urlencode(form), FORM), 302)
        answer = {key: values[0] for key, values in parse_qs(urlsplit(callback.location).query).items()}
        if not callback.location.startswith(self.seed.redirect_uri) or answer.get("state") != state:
            raise UnexpectedReply(f"unexpected callback {callback.location}")
        grant = {"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": self.seed.redirect_uri}
        return self.token(transport, grant)

    def token(self, transport, grant):
        reply = expect(transport.send("POST", "/token", urlencode(grant), self.token_headers), 200)
        return json.loads(reply.body)


class Scenario:
    unit = "req/s"
    # Which application answers: "provider" (wsgi.py) or "floor" (bench/floor_app.py).
    server = "provider"
    # Absolute targets (the login's): operations per second per server core, p99 in ms.
    target = None
    p99_target_ms = None
    # Relative target: this scenario's per-core rate ÷ that of the `floor` scenario.
    floor = None
    ratio_target = None

    def __init__(self, seed, index, clients):
        self.rp = RelyingParty(seed)
        self.identifiers = itertools.cycle(seed.identifiers[index::clients])

    def prepare(self, transport):
        """Make the client ready to repeat `run_once`; also called again after an error."""

    def run_once(self, transport):
        raise NotImplementedError


class Login(Scenario):
    unit = "logins/s"
    target = 30
    p99_target_ms = 400

    def run_once(self, transport):
        tokens = self.rp.log_in(transport, next(self.identifiers), LOGIN_SCOPE)
        if "id_token" not in tokens or "refresh_token" not in tokens:
            raise UnexpectedReply(f"incomplete token response: {sorted(tokens)}")


class Refresh(Scenario):
    """Each client chains its own rotating refresh tokens (a reused one revokes the family)."""

    floor = "one_query"
    ratio_target = 0.5

    def prepare(self, transport):
        self.refresh_token = self.rp.log_in(transport, next(self.identifiers), LOGIN_SCOPE)["refresh_token"]

    def run_once(self, transport):
        tokens = self.rp.token(transport, {"grant_type": "refresh_token", "refresh_token": self.refresh_token})
        self.refresh_token = tokens["refresh_token"]


class UserInfo(Scenario):
    floor = "one_query"
    ratio_target = 0.7

    def prepare(self, transport):
        access_token = self.rp.log_in(transport, next(self.identifiers), USERINFO_SCOPE)["access_token"]
        self.headers = {"Authorization": f"Bearer {access_token}"}

    def run_once(self, transport):
        expect(transport.send("GET", "/userinfo", headers=self.headers), 200)


class Discovery(Scenario):
    floor = "hello"
    ratio_target = 1.5

    def run_once(self, transport):
        expect(transport.send("GET", "/.well-known/openid-configuration"), 200)


class Jwks(Scenario):
    floor = "hello"
    ratio_target = 1.5

    def run_once(self, transport):
        expect(transport.send("GET", "/jwks.json"), 200)


class Hello(Scenario):
    """The floor of discovery and JWKS: a Flask view returning a constant."""

    server = "floor"

    def run_once(self, transport):
        expect(transport.send("GET", "/hello"), 200)


class OneQuery(Scenario):
    """The floor of refresh and userinfo: one account read by its identifier, as JSON."""

    server = "floor"

    def run_once(self, transport):
        expect(transport.send("GET", "/one-query?" + urlencode({"identifier": next(self.identifiers)})), 200)


SCENARIOS = {
    "login": Login,
    "refresh": Refresh,
    "userinfo": UserInfo,
    "discovery": Discovery,
    "jwks": Jwks,
    "hello": Hello,
    "one_query": OneQuery,
}
# What the provider serves; the floor's scenarios are measured alongside them.
PROVIDER_SCENARIOS = [name for name, scenario in SCENARIOS.items() if scenario.server == "provider"]
