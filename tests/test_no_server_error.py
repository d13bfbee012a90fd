"""Whatever text or bytes a request carries, no page or protocol endpoint answers 5xx.

Property-based (Hypothesis): parameters and credentials are drawn from arbitrary text,
raw bytes (often not UTF-8 once decoded), long runs and, to reach deeper code, values
that are valid for this provider. Run against PostgreSQL too: NUL bytes fail only there.
Examples are random on a developer's machine and fixed under CI.
"""

import base64
import os
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from idp.accounts.links import new_link
from idp.clock import now
from idp.extensions import db
from idp.models import Account, LinkPurpose

from .conftest import PASSWORD
from .oidc_helpers import csrf_token, pkce_pair

ENDPOINTS = [
    ("GET", "/authorize"),
    ("POST", "/authorize"),
    ("POST", "/authorize/consent"),
    ("POST", "/token"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    ("POST", "/revoke"),
    ("POST", "/introspect"),
    ("GET", "/logout"),
    ("POST", "/logout"),
    ("GET", "/connexion"),
    ("POST", "/connexion"),
    ("GET", "/langue/en"),
    ("GET", "/mot-de-passe-oublie"),
    ("POST", "/mot-de-passe-oublie"),
    ("GET", "/mot-de-passe-oublie/lien-inconnu"),
    ("POST", "/mot-de-passe-oublie/{live_reset_link}"),
    ("POST", "/identifiant-oublie"),
]
NAMES = [
    "client_id",
    "client_secret",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "id_token_hint",
    "login_hint",
    "ui_locales",
    "code",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "refresh_token",
    "token",
    "token_type_hint",
    "access_token",
    "post_logout_redirect_uri",
    "logout_hint",
    "identifier",
    "password",
    "next",
    "csrf_token",
    "confirm",
    "decision",
    "email",
    "temporary_password",
    "password_confirmation",
]

ARBITRARY = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=60),
    st.builds(lambda piece, count: piece * count, st.text(min_size=1, max_size=3), st.integers(0, 3000)),
    st.sampled_from(["\x00", "\r\n", "\t", "é", '"', "\\", "%00", "²", "-1", "9" * 40, "/\t/evil.com", "//evil.com"]),
)

# What a header line can hold (HTTP servers refuse newlines before the application sees them).
HEADER_TEXT = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1").replace("\r", "").replace("\n", ""))


def valid_values(ent, csrf):
    """Values that pass the first checks, so that the arbitrary ones reach deeper code."""
    _verifier, challenge = pkce_pair()
    return {
        "client_id": ent.client_id,
        "client_secret": ent.secret,
        "response_type": "code",
        "redirect_uri": ent.redirect_uri,
        "scope": "openid profile offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "grant_type": "authorization_code",
        "identifier": "jean.dupont1",
        "password": PASSWORD,
        "csrf_token": csrf,
        "decision": "allow",
        "next": "/compte/",
        "email": "jean@example.org",
        "temporary_password": "AAAA-BBBB-CCCC",
        "password_confirmation": PASSWORD,
    }


@st.composite
def requests(draw, valid):
    pairs = []
    for name in draw(st.lists(st.sampled_from([*NAMES, "x"]), max_size=8)):
        value = draw(st.one_of(ARBITRARY, st.just(valid.get(name, "")))) if name in valid else draw(ARBITRARY)
        pairs.append((name, value))
    authorization = draw(
        st.one_of(
            st.none(),
            st.binary(max_size=40).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
            HEADER_TEXT.map(lambda text: "Bearer " + text),
            HEADER_TEXT.map(lambda text: "Basic " + text),
            HEADER_TEXT,
        )
    )
    return urlencode(pairs), authorization


@pytest.fixture
def browser(ent, parent):
    """A browser logged in to the ENT, and the values valid for it."""
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    return ent.client, valid_values(ent, csrf_token(page.text)) | {"id_token_hint": tokens["id_token"]}


@pytest.fixture
def live_reset_link(app, parent):
    """The token of a live « mot de passe oublié » link of jean.dupont1 (temporary password AAAA-BBBB-CCCC)."""
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.identifier == "jean.dupont1"))
        token = new_link(account, LinkPurpose.PASSWORD_RESET, account.email, now() + timedelta(hours=1), secret="AAAABBBBCCCC")
        db.session.commit()
        return token


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_parameter_makes_an_endpoint_answer_a_server_error(browser, live_reset_link, method, path):
    client, valid = browser
    path = path.format(live_reset_link=live_reset_link)

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests(valid))
    def property_holds(request):
        query, authorization = request
        headers = {"Authorization": authorization} if authorization is not None else {}
        if method == "GET":
            response = client.get(f"{path}?{query}", headers=headers)
        else:
            response = client.post(path, data=query, content_type="application/x-www-form-urlencoded", headers=headers)
        assert response.status_code < 500, (method, path, query[:300], authorization, response.text[:300])

    property_holds()
