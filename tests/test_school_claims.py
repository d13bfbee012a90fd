"""The claims of the school world a relying party receives (docs/relying-parties.md):
FrEduVecteur and the ÉduConnect claims under `scolarite`, narrowed by the relying party's
registration; and pairwise subjects (OpenID Connect Core §8.1). Both paths of userinfo and
the ID token (the fast path and the ORM path)."""

from datetime import date

import jwt
import pytest

from idp.accounts.lifecycle import regenerate
from idp.accounts.passwords import hash_password
from idp.extensions import db
from idp.logout.delivery import logout_token
from idp.models import Account, AccountState, Client, Guardianship, Pupil
from idp.relying_parties.registration import register_client
from idp.relying_parties.subjects import pairwise_subject, subject_for
from idp.schools.establishments import add_establishment

from .conftest import ISSUER, PASSWORD
from .issuing_helpers import add_pupil, issue
from .oidc_helpers import RelyingParty, query_of
from .test_tokens import introspect, userinfo

pytestmark = pytest.mark.both_paths

COLLEGE, ECOLE = "0140001A", "0141234X"
SCOLARITE = "openid profile scolarite"


def _activate(app, identifier):
    """The issued account made active with PASSWORD, as after its first connection."""
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == identifier))
        account.state = AccountState.ACTIVE
        account.password_hash, account.provisional_secret_hash = hash_password(PASSWORD), None
        account.email, account.email_verified = f"{identifier}@example.org", True
        db.session.commit()
        return account.sub


def _school_key(app, pupil_id):
    with app.app_context():
        return db.session.get(Pupil, pupil_id).school_key


@pytest.fixture
def schools(app):
    """A collège (second degré) and an école (premier degré)."""
    with app.app_context():
        add_establishment(COLLEGE, "Collège Jean Moulin")
        add_establishment(ECOLE, "École du Port", degree="1d")
        db.session.commit()


@pytest.fixture
def family(app, schools):
    """Sophie Leroy, legal guardian of Emma (collège) and of Léo (école), with one account for
    both (the guardianship table is many-to-many); her school file spells her « LEROY »."""
    emma = add_pupil(app, COLLEGE, "Emma", "Leroy", "6B", guardians=[("Sophie", "LEROY")])
    leo = add_pupil(app, ECOLE, "Léo", "Leroy", "CP", guardians=[("Sophie", "LEROY")])
    issued = {item.identifier: item for item in issue(app, COLLEGE, kind="parent")}
    parent = issued["sophie.leroy1"]
    with app.app_context():
        db.session.add(Guardianship(account_id=parent.id, pupil_id=leo))
        db.session.commit()
    _activate(app, "sophie.leroy1")
    return {"parent": parent, "emma": _school_key(app, emma), "leo": _school_key(app, leo), "emma_id": emma, "leo_id": leo}


def _set_client(app, client_id, **values):
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
        for name, value in values.items():
            setattr(client, name, value)
        db.session.commit()


def _claims_both_ways(rp, identifier, scope, password=PASSWORD):
    """(ID token claims, userinfo claims) of a login of `identifier` with `scope`."""
    tokens, id_claims = rp.full_login(identifier, password, scope=scope)
    info = userinfo(rp, tokens["access_token"])
    assert info.status_code == 200, info.json
    return id_claims, info.json


# --- FrEduVecteur ----------------------------------------------------------------------------


def test_a_parent_of_two_children_gets_one_vector_per_child_by_degree(ent, family):
    id_claims, info = _claims_both_ways(ent, "sophie.leroy1", SCOLARITE)
    expected = [f"2|LEROY|Sophie|{family['emma']}|{COLLEGE}", f"1|LEROY|Sophie|{family['leo']}|{ECOLE}"]
    for claims in (id_claims, info):
        assert claims["FrEduVecteur"] == expected
        assert claims["FrEduCtPersonAffiliation"] == "resp2d"
        assert [child["uai"] for child in claims["children"]] == [COLLEGE, ECOLE]


def test_a_child_who_left_is_not_in_the_vectors(app, ent, family):
    with app.app_context():
        db.session.get(Pupil, family["leo_id"]).left_on = date(2026, 9, 1)
        db.session.commit()
    id_claims, info = _claims_both_ways(ent, "sophie.leroy1", SCOLARITE)
    for claims in (id_claims, info):
        assert claims["FrEduVecteur"] == [f"2|LEROY|Sophie|{family['emma']}|{COLLEGE}"]
        assert [child["given_name"] for child in claims["children"]] == ["Emma"]


def test_a_parent_of_a_primary_pupil_only_is_resp1d(app, ent, schools):
    add_pupil(app, ECOLE, "Léo", "Martin", "CP", guardians=[("Karim", "Martin")])
    issue(app, ECOLE, kind="parent")
    _activate(app, "karim.martin1")
    _, info = _claims_both_ways(ent, "karim.martin1", SCOLARITE)
    assert info["FrEduCtPersonAffiliation"] == "resp1d"
    assert info["FrEduVecteur"][0].startswith("1|Martin|Karim|")


@pytest.mark.parametrize(("uai", "profile", "affiliation"), [(COLLEGE, "4", "eleve2d"), (ECOLE, "3", "eleve1d")])
def test_a_pupil_gets_their_own_vector_without_names(app, ent, schools, uai, profile, affiliation):
    pupil = add_pupil(app, uai, "Hugo", "Bernard", "6A")
    with app.app_context():
        db.session.get(Pupil, pupil).ine = "1234567890A"
        db.session.commit()
    issue(app, uai, kind="eleve")
    _activate(app, "hugo.bernard1")
    id_claims, info = _claims_both_ways(ent, "hugo.bernard1", SCOLARITE)
    for claims in (id_claims, info):
        assert claims["FrEduVecteur"] == [f"{profile}|||{_school_key(app, pupil)}|{uai}"]
        assert claims["FrEduCtPersonAffiliation"] == affiliation
        assert claims["FrEduCtEleveUAI"] == uai
        assert claims["FrEduCtEleveINE"] == "1234567890A"


def test_a_pupil_without_a_school_file_identifier_has_no_vector(ent, pupil_account):
    # Made by hand (idp demo-account create) without --school-key: nothing an ENT could match.
    _, info = _claims_both_ways(ent, "alice.martin1", "openid scolarite", "Cartable-2024")
    assert info["FrEduVecteur"] == []
    assert info["FrEduCtEleveUAI"] == "0140001A"


def test_the_vector_is_offered_in_the_discovery(client):
    assert "FrEduVecteur" in client.get("/.well-known/openid-configuration").json["claims_supported"]


# --- what each relying party may receive -------------------------------------------------------


def test_without_the_scope_a_relying_party_gets_no_school_claim(ent, family):
    id_claims, info = _claims_both_ways(ent, "sophie.leroy1", "openid profile")
    for claims in (id_claims, info):
        assert claims["given_name"] == "Sophie"
        assert not {"FrEduVecteur", "FrEduCtPersonAffiliation", "children"} & set(claims)


def test_a_relying_party_not_registered_for_the_scope_gets_less_not_an_error(make_rp, family):
    rp = make_rp("Téléservice", scopes=["openid", "profile"])
    id_claims, info = _claims_both_ways(rp, "sophie.leroy1", "openid profile email scolarite")
    for claims in (id_claims, info):
        assert "given_name" in claims
        assert not {"FrEduVecteur", "FrEduCtPersonAffiliation", "email"} & set(claims)


def test_a_relying_party_gets_only_the_claims_of_its_registration(app, ent, family):
    _set_client(app, ent.client_id, claims=["given_name", "FrEduCtPersonAffiliation"])
    id_claims, info = _claims_both_ways(ent, "sophie.leroy1", "openid profile email scolarite")
    assert info == {"sub": family["parent"].sub, "given_name": "Sophie", "FrEduCtPersonAffiliation": "resp2d"}
    assert id_claims["given_name"] == "Sophie" and id_claims["FrEduCtPersonAffiliation"] == "resp2d"
    assert not {"family_name", "email", "FrEduVecteur", "children"} & set(id_claims)


def test_a_relying_party_allowed_the_vector_but_not_the_ine(app, ent, schools):
    pupil = add_pupil(app, COLLEGE, "Hugo", "Bernard", "6A")
    with app.app_context():
        db.session.get(Pupil, pupil).ine = "1234567890A"
        db.session.commit()
    issue(app, COLLEGE, kind="eleve")
    _activate(app, "hugo.bernard1")
    _set_client(app, ent.client_id, claims=["FrEduVecteur", "FrEduCtEleveUAI"])
    id_claims, info = _claims_both_ways(ent, "hugo.bernard1", SCOLARITE)
    for claims in (id_claims, info):
        assert claims["FrEduVecteur"] == [f"4|||{_school_key(app, pupil)}|{COLLEGE}"]
        assert "FrEduCtEleveINE" not in claims


def test_an_empty_claims_list_releases_only_sub(app, ent, family):
    _set_client(app, ent.client_id, claims=[])
    _, info = _claims_both_ways(ent, "sophie.leroy1", SCOLARITE)
    assert info == {"sub": family["parent"].sub}


# --- pairwise subjects -------------------------------------------------------------------------


def _relying_party(app, client, name, redirect_uri, subject_type="pairwise"):
    with app.app_context():
        registered, secret = register_client(name, "teleservice", [redirect_uri], [], "client_secret_basic", ["openid", "profile"], True)
        registered.subject_type = subject_type
        db.session.commit()
        return RelyingParty(client, registered.client_id, secret, "client_secret_basic", redirect_uri, ISSUER)


def test_pairwise_sub_is_stable_and_the_same_at_every_door(app, ent, parent):
    _set_client(app, ent.client_id, subject_type="pairwise")
    tokens, claims = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    sub = claims["sub"]
    assert sub != parent.sub
    assert userinfo(ent, tokens["access_token"]).json["sub"] == sub
    assert introspect(ent, tokens["access_token"]).json["sub"] == sub
    assert introspect(ent, tokens["refresh_token"], token_type_hint="refresh_token").json["sub"] == sub
    refreshed = ent.refresh(tokens["refresh_token"]).json
    assert userinfo(ent, refreshed["access_token"]).json["sub"] == sub
    # Another login gives the same.
    ent.new_browser()
    assert ent.full_login("jean.dupont1", PASSWORD)[1]["sub"] == sub
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == ent.client_id))
        assert subject_for(client, parent.sub) == sub == pairwise_subject("127.0.0.1", parent.sub)


def test_pairwise_sub_differs_across_sectors_and_agrees_within_one(app, client, make_rp, parent):
    ent = make_rp("ENT")
    same_sector = make_rp("Autre service du même hôte")
    _set_client(app, ent.client_id, subject_type="pairwise")
    _set_client(app, same_sector.client_id, subject_type="pairwise")
    elsewhere = _relying_party(app, client, "Téléservice", "https://teleservice.example.net/retour")
    public = _relying_party(app, client, "Public", "https://public.example.net/cb", subject_type="public")
    subs = {}
    for name, rp in (("ent", ent), ("same", same_sector), ("elsewhere", elsewhere), ("public", public)):
        rp.new_browser()
        subs[name] = rp.full_login("jean.dupont1", PASSWORD, scope="openid profile")[1]["sub"]
    assert subs["ent"] == subs["same"]
    assert subs["ent"] != subs["elsewhere"]
    assert subs["public"] == parent.sub
    assert parent.sub not in (subs["ent"], subs["elsewhere"])


def test_regeneration_keeps_both_kinds_of_sub(app, client, ent, parent):
    _set_client(app, ent.client_id, subject_type="pairwise")
    public = _relying_party(app, client, "Public", "https://public.example.net/cb", subject_type="public")
    before = (ent.full_login("jean.dupont1", PASSWORD)[1]["sub"], public.full_login("jean.dupont1", PASSWORD)[1]["sub"])
    with app.app_context():
        regenerate(db.session.scalar(db.select(Account).where(Account.identifier == "jean.dupont1")))
        db.session.commit()
    _activate(app, "jean.dupont1")
    after = []
    for rp in (ent, public):
        rp.new_browser()
        after.append(rp.full_login("jean.dupont1", PASSWORD)[1]["sub"])
    assert tuple(after) == before
    assert before[1] == parent.sub != before[0]


def test_a_pairwise_id_token_hint_names_the_person_logged_in(app, ent, parent):
    _set_client(app, ent.client_id, subject_type="pairwise")
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    # Silent authorization with the hint: the same person, no new login.
    response, _ = ent.authorize(prompt="none", id_token_hint=tokens["id_token"])
    assert "code" in query_of(response.location)
    # RP-initiated logout with the hint: no confirmation asked.
    response = ent.client.get(
        "/logout", query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:8765/logout-cb"}
    )
    assert response.status_code == 302


def test_a_hint_for_someone_else_asks_to_log_in(app, ent, make_account):
    make_account(given_name="Marc", family_name="Leroy", email="marc@example.org")
    _set_client(app, ent.client_id, subject_type="pairwise")
    theirs, _ = ent.full_login("marc.leroy1", PASSWORD)
    ent.new_browser()
    make_account()  # jean.dupont1
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(prompt="none", id_token_hint=theirs["id_token"])
    assert query_of(response.location)["error"] == "login_required"


def test_discovery_lists_both_subject_types(client):
    assert client.get("/.well-known/openid-configuration").json["subject_types_supported"] == ["public", "pairwise"]


def test_a_logout_token_names_the_account_by_the_sub_its_relying_party_knows(app, ent, parent):
    _set_client(app, ent.client_id, subject_type="pairwise")
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == ent.client_id))
        claims = jwt.decode(logout_token(client, parent.sub, "a-sid"), options={"verify_signature": False})
        assert claims["sub"] == pairwise_subject("127.0.0.1", parent.sub) != parent.sub
