"""OpenID Connect Front-Channel Logout: the logged-out page loads the front-channel logout URIs
of the session's relying parties, in frames its Content-Security-Policy allows, without any
script; and how a relying party registers its logout URIs (`idp client`)."""

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import ISSUER, PASSWORD
from .oidc_helpers import csrf_token

FRONT = "https://canteen.example.org/frontchannel-logout"


def frames(page):
    return [html.unescape(uri) for uri in re.findall(r'<iframe src="([^"]+)"', page.text)]


@pytest.fixture
def canteen(make_rp):
    return make_rp("Cantine", category="teleservice", frontchannel_logout_uri=FRONT + "?rp=1", frontchannel_logout_session_required=True)


def test_the_logged_out_page_loads_the_front_channel_uris_with_iss_and_sid(ent, canteen, parent):
    _, claims = canteen.full_login("jean.dupont1", PASSWORD)
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    response = ent.client.post("/deconnexion", data={"csrf_token": csrf_token(page.text)})
    (uri,) = frames(response)
    parts = urlsplit(uri)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == FRONT
    assert parse_qs(parts.query) == {"rp": ["1"], "iss": [ISSUER], "sid": [claims["sid"]]}
    policy = response.headers["Content-Security-Policy"]
    assert "frame-src 'self' https://canteen.example.org;" in policy
    assert "<script" not in response.text
    assert "Vous êtes déconnecté" in response.text


def test_without_session_required_the_uri_is_loaded_as_registered(make_rp, parent):
    plain = make_rp("Médiathèque", frontchannel_logout_uri=FRONT)
    plain.full_login("jean.dupont1", PASSWORD)
    page = plain.client.get("/compte/")
    assert frames(plain.client.post("/compte/deconnexion-partout", data={"csrf_token": csrf_token(page.text)})) == [FRONT]


def test_a_page_without_front_channel_frames_nothing(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    response = ent.client.post("/deconnexion", data={"csrf_token": csrf_token(page.text)})
    assert frames(response) == []
    assert "frame-src 'self' ;" in response.headers["Content-Security-Policy"]


def test_rp_initiated_logout_loads_the_others_then_offers_to_go_back(ent, canteen, parent):
    canteen.full_login("jean.dupont1", PASSWORD)
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    back = "http://127.0.0.1:8765/logout-cb"
    response = ent.client.get("/logout", query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": back, "state": "s"})
    assert response.status_code == 200
    assert len(frames(response)) == 1
    (link,) = re.findall(r'<a class="fr-btn" href="([^"]+)">Continuer</a>', response.text)
    assert html.unescape(link) == f"{back}?state=s"
    # The relying party that asked is not framed: it knows already.
    canteen_tokens, _ = canteen.full_login("jean.dupont1", PASSWORD)
    response = canteen.client.get("/logout", query_string={"id_token_hint": canteen_tokens["id_token"], "post_logout_redirect_uri": back})
    assert response.status_code == 302


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_logout_uris_are_registered_shown_and_cleared_by_the_cli(run):
    added = run(
        "client", "add", "--name", "ENT", "--category", "ent", "--redirect-uri", "https://ent.example.org/cb",
        "--backchannel-logout-uri", "https://ent.example.org/bcl", "--backchannel-logout-session-required",
        "--frontchannel-logout-uri", "https://ent.example.org/fcl", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    client_id = json.loads(added.output)["client_id"]
    shown = json.loads(run("client", "show", client_id, "--json").output)
    assert shown["backchannel_logout_uri"] == "https://ent.example.org/bcl"
    assert shown["backchannel_logout_session_required"] is True
    assert shown["frontchannel_logout_uri"] == "https://ent.example.org/fcl"
    assert shown["frontchannel_logout_session_required"] is False
    assert "déconnexion back-channel" in run("client", "show", client_id).output

    changed = run("client", "update", client_id, "--backchannel-logout-uri", "", "--frontchannel-logout-session-required", "--json")
    assert changed.exit_code == 0, changed.output
    shown = json.loads(changed.output)
    assert shown["backchannel_logout_uri"] is None and shown["frontchannel_logout_session_required"] is True


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://ent.example.org/bcl", "http n'est admis que sur 127.0.0.1"),
        ("https://ent.example.org/*", "pas de joker"),
        ("https://ent.example.org/bcl#x", "pas de fragment"),
        ("ent.example.org/bcl", "URL absolue"),
    ],
)
def test_a_logout_uri_follows_the_rules_of_a_redirect_uri(run, uri, why):
    refused = run(
        "client",
        "add",
        "--name",
        "ENT",
        "--category",
        "ent",
        "--redirect-uri",
        "https://ent.example.org/cb",
        "--backchannel-logout-uri",
        uri,
    )
    assert refused.exit_code != 0
    assert "URI de déconnexion back-channel refusée" in refused.output and why in refused.output
    assert json.loads(run("client", "list", "--json").output) == []
