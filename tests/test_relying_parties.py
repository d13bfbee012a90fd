"""What the registration of a relying party decides at the protocol's doors: a disabled one
is no client anywhere (authorization, token endpoint, introspection, revocation, userinfo);
a rotated secret keeps the former one working until its overlap ends; the consent page shows
the logo (its origin alone allowed by the CSP) and the contact. Then the registration rules
themselves, and the `idp client` options that reach them. The protocol tests run on the fast
path and on the ORM path."""

import json
from datetime import timedelta

import pytest

from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Client
from idp.relying_parties.registration import (
    check_claims,
    check_contact,
    check_subject_type,
    disable_client,
    enable_client,
    find_client,
    parse_overlap,
    register_client,
    rotate_secret,
    update_client,
)

from .conftest import PASSWORD
from .test_consent import consent_page
from .test_tokens import introspect, userinfo
from .travel import frozen


def set_disabled(app, rp, disabled):
    with app.app_context():
        found = find_client(rp.client_id)
        (disable_client if disabled else enable_client)(found)
        db.session.commit()


def rotate(app, rp, overlap):
    with app.app_context():
        secret = rotate_secret(find_client(rp.client_id), overlap)
        db.session.commit()
        return secret


# --- a disabled relying party ------------------------------------------------------------


@pytest.mark.both_paths
def test_a_disabled_relying_party_is_refused_at_every_door_and_again_welcome_once_enabled(app, ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    set_disabled(app, ent, True)

    page, _ = ent.authorize()
    assert page.status_code == 400 and "invalid_client" in page.text and 'lang="fr"' in page.text
    for response in (ent.exchange(code), ent.refresh(tokens["refresh_token"]), introspect(ent, tokens["access_token"])):
        assert response.status_code in (400, 401) and response.json["error"] == "invalid_client", response.json
    revoked = ent.client.post("/revoke", data={"token": tokens["access_token"]}, headers=_basic(ent))
    assert revoked.status_code in (400, 401) and revoked.json["error"] == "invalid_client"
    assert userinfo(ent, tokens["access_token"]).status_code == 401

    set_disabled(app, ent, False)
    assert userinfo(ent, tokens["access_token"]).status_code == 200  # never revoked: it works again
    assert ent.refresh(tokens["refresh_token"]).status_code == 200
    ent.full_login("jean.dupont1", PASSWORD)


def _basic(rp):
    from .test_tokens import rp_basic

    return rp_basic(rp)


@pytest.mark.both_paths
def test_a_disabled_public_client_is_refused_too(app, make_rp, parent):
    rp = make_rp("Appli", auth_method="none")
    set_disabled(app, rp, True)
    response = rp.token_request({"grant_type": "authorization_code", "code": "x", "redirect_uri": rp.redirect_uri})
    assert response.json["error"] == "invalid_client"


# --- a secret rotated with an overlap ----------------------------------------------------


@pytest.mark.both_paths
def test_the_former_secret_works_until_the_overlap_ends(app, ent, parent):
    with frozen() as clock:
        former = ent.secret
        current = rotate(app, ent, timedelta(hours=24))
        code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
        assert ent.exchange(code).status_code == 200  # the former secret
        ent.secret = current
        ent.full_login("jean.dupont1", PASSWORD)
        clock.shift(24 * 3600 - 1)
        ent.secret = former
        tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
        clock.shift(1)
        assert ent.refresh(tokens["refresh_token"]).json["error"] == "invalid_client"
        assert introspect(ent, tokens["access_token"]).json["error"] == "invalid_client"
        ent.secret = current
        assert ent.refresh(tokens["refresh_token"]).status_code == 200


@pytest.mark.both_paths
def test_a_rotation_without_overlap_ends_the_former_secret_at_once(app, ent, parent):
    former = ent.secret
    ent.secret = rotate(app, ent, timedelta(0))
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    ent.secret, current = former, ent.secret
    assert ent.exchange(code).json["error"] == "invalid_client"
    ent.secret = current
    assert ent.exchange(code).status_code == 200


def test_a_second_rotation_keeps_only_the_secret_it_replaces(app, ent):
    first = ent.secret
    second = rotate(app, ent, timedelta(hours=1))
    third = rotate(app, ent, timedelta(hours=1))
    with app.app_context():
        found = find_client(ent.client_id)
        assert found.check_client_secret(second) and found.check_client_secret(third)
        assert not found.check_client_secret(first)


# --- the consent page --------------------------------------------------------------------


def test_the_consent_page_shows_the_logo_and_the_contact(app, make_rp, parent):
    rp = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    with app.app_context():
        update_client(find_client(rp.client_id), logo_uri="https://cdn.cantine.example/logo.png", contact="02 31 00 00 00")
        db.session.commit()
    page, _ = consent_page(rp)
    assert '<img src="https://cdn.cantine.example/logo.png" alt="Logo de Cantine en ligne"' in page.text
    assert "Contact de ce service : 02 31 00 00 00" in page.text
    assert "img-src 'self' data: https://cdn.cantine.example;" in page.headers["Content-Security-Policy"]
    # Another page of the provider allows no other image origin.
    assert "img-src 'self' data:;" in rp.client.get("/").headers["Content-Security-Policy"]


def test_without_logo_nor_contact_the_consent_page_has_neither(make_rp, parent):
    page, _ = consent_page(make_rp("Cantine en ligne", category="teleservice", trusted=False))
    assert "<img" not in page.text and "Contact de ce service" not in page.text
    assert "img-src 'self' data:;" in page.headers["Content-Security-Policy"]


# --- the registration rules --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", timedelta(0)),
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("7j", timedelta(days=7)),
        ("48", timedelta(hours=48)),
        (" 90 s ", timedelta(seconds=90)),
    ],
)
def test_durations_are_read_as_operators_type_them(text, expected):
    assert parse_overlap(text) == expected


@pytest.mark.parametrize("text", ["", "24 heures", "-1h", "1.5h", "h", None])
def test_an_unreadable_duration_is_refused(text):
    with pytest.raises(InvalidInput, match="Durée illisible"):
        parse_overlap(text)


def test_the_rules_of_the_new_fields():
    assert check_subject_type("pairwise", ["https://ent.example/cb", "https://ent.example/other"]) == "pairwise"
    assert check_subject_type("public", ["https://a.example/cb", "https://b.example/cb"]) == "public"
    with pytest.raises(InvalidInput, match="même hôte"):
        check_subject_type("pairwise", ["https://a.example/cb", "https://b.example/cb"])
    with pytest.raises(InvalidInput, match="inconnue"):
        check_subject_type("secret", [])
    assert check_claims(["email", "name", "email"], ["openid", "profile", "email"]) == ["email", "name"]
    assert check_claims([], ["openid"]) is None and check_claims(None, ["openid"]) is None
    with pytest.raises(InvalidInput, match="hors des scopes"):
        check_claims(["FrEduCtEleveUAI"], ["openid", "profile"])
    assert check_contact("  cantine@ville.example ") == "cantine@ville.example" and check_contact("") is None
    for bad in ("x" * 201, "deux\nlignes"):
        with pytest.raises(InvalidInput):
            check_contact(bad)


def test_changing_the_scopes_or_the_uris_keeps_the_rules(app):
    with app.app_context():
        client, _ = register_client(
            "ENT", "ent", ["https://ent.example/cb"], scopes=["openid", "profile"], subject_type="pairwise", claims=["name"]
        )
        db.session.commit()
        with pytest.raises(InvalidInput, match="même hôte"):
            update_client(client, redirect_uris=["https://ent.example/cb", "https://autre.example/cb"])
        db.session.rollback()
    with app.app_context():
        client = db.session.scalar(db.select(Client))
        with pytest.raises(InvalidInput, match="hors des scopes"):
            update_client(client, scopes=["openid", "email"])
        with pytest.raises(InvalidInput, match="de 0 à 30 jours"):
            rotate_secret(client, timedelta(days=31))
        with pytest.raises(InvalidInput, match="Au moins une URI"):
            update_client(client, redirect_uris=[])
        with pytest.raises(InvalidInput, match="trop long"):
            update_client(client, name="x" * 201)


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_the_commands_set_every_new_field_and_show_it(run, app, audit_events):
    added = run(
        "client", "add", "--name", "ENT", "--category", "ent", "--redirect-uri", "https://ent.example/cb",
        "--subject-type", "pairwise", "--claims", "name,email", "--logo-uri", "https://ent.example/logo.svg",
        "--contact", "support@ent.example", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    client_id = json.loads(added.output)["client_id"]
    shown = json.loads(run("client", "show", client_id, "--json").output)
    assert shown["subject_type"] == "pairwise" and shown["claims"] == ["name", "email"]
    assert (shown["logo_uri"], shown["contact"], shown["disabled_at"]) == ("https://ent.example/logo.svg", "support@ent.example", None)
    assert "informations transmises" in run("client", "show", client_id).output

    updated = run("client", "update", client_id, "--subject-type", "public", "--claims", "", "--logo-uri", "", "--json")
    assert updated.exit_code == 0, updated.output
    shown = json.loads(updated.output)
    assert (shown["subject_type"], shown["claims"], shown["logo_uri"]) == ("public", None, None)
    assert sorted(audit_events("client_updated")[-1].details["fields"]) == ["claims", "logo_uri", "subject_type"]
    assert "toutes celles des scopes" in run("client", "show", client_id).output

    refused = run("client", "update", client_id, "--claims", "FrEduCtEleveUAI,name", "--scope", "openid", "--scope", "profile")
    assert refused.exit_code == 1 and "hors des scopes" in refused.output

    assert "désactivé" in run("client", "disable", client_id).output
    assert "déjà désactivé" in run("client", "disable", client_id).output
    assert json.loads(run("client", "show", client_id, "--json").output)["disabled_at"] is not None
    assert "réactivé" in run("client", "enable", client_id).output
    assert "déjà actif" in run("client", "enable", client_id).output
    assert [event.event for event in audit_events() if event.event in ("client_disabled", "client_enabled")] == [
        "client_disabled",
        "client_enabled",
    ]


def test_rotate_secret_keeps_the_former_one_24_hours_by_default(run, app):
    with frozen() as clock:
        added = json.loads(
            run("client", "add", "--name", "ENT", "--category", "ent", "--redirect-uri", "https://ent.example/cb", "--json").output
        )
        rotated = run("client", "rotate-secret", added["client_id"], "--json")
        assert set(json.loads(rotated.output)) == {"client_id", "client_secret"}
        assert "l'ancien fonctionne jusqu'au" in run("client", "rotate-secret", added["client_id"], "--overlap", "30m").output
        with app.app_context():
            found = find_client(added["client_id"])
            assert not found.check_client_secret(added["client_secret"])  # replaced by the second rotation's former
            assert found.check_client_secret(json.loads(rotated.output)["client_secret"])
        clock.shift(30 * 60)
        with app.app_context():
            assert not find_client(added["client_id"]).check_client_secret(json.loads(rotated.output)["client_secret"])
        bad = run("client", "rotate-secret", added["client_id"], "--overlap", "demain")
        assert bad.exit_code == 1 and "Durée illisible" in bad.output
