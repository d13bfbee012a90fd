"""The académie's pages and `idp staff add`: establishments, staff and their enrolment links,
relying parties read only; closed to establishments' staff."""

import json
import re

import pyotp
import pytest

from idp.extensions import db
from idp.models import Establishment, StaffMember, StaffRole

from ..oidc_helpers import csrf_token
from .conftest import STAFF_PASSWORD, bound_labels, log_in, post_password

LINK = re.compile(r'<code class="link" id="enrolment-link">(http://localhost/gestion/inscription/[A-Za-z0-9_-]+)</code>')


def post_form(client, path, **data):
    page = client.get(path)
    return client.post(path, data={**data, "csrf_token": csrf_token(page.text)})


def test_academie_adds_an_establishment(client, administrator, clock, audit_events):
    log_in(client, administrator)
    page = client.get("/gestion/academie/etablissements")
    assert page.status_code == 200 and bound_labels(page.text) and "<script" not in page.text
    assert "<legend" in page.text  # the degree's radio buttons are a named group
    response = post_form(client, "/gestion/academie/etablissements", uai="0141234x", name="École du Port", degree="1d")
    assert response.status_code == 303
    listing = client.get(response.location).text
    assert "0141234X" in listing and "École du Port" in listing
    assert audit_events("establishment_added")[-1].details == {"uai": "0141234X", "staff": administrator.email}


def test_a_bad_establishment_is_refused_with_a_message_and_nothing_added(app, client, administrator, establishment, clock):
    log_in(client, administrator)
    for uai, message in (("14A", "UAI invalide"), ("0140001A", "existe déjà")):
        response = post_form(client, "/gestion/academie/etablissements", uai=uai, name="Doublon", degree="2d")
        assert response.status_code == 200
        assert message in response.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Establishment)) == 1


def test_academie_adds_a_staff_member_whose_enrolment_link_works_once(app, client, administrator, other_establishment, clock):
    log_in(client, administrator)
    page = client.get("/gestion/academie/personnels")
    assert bound_labels(page.text)
    response = post_form(
        client,
        "/gestion/academie/personnels",
        email="Direction@College.example",
        given_name="Anne",
        family_name="Leroy",
        role="etablissement",
        uais="0140001A, 0610002B",
    )
    assert response.status_code == 200
    link = LINK.search(response.text).group(1)
    assert response.headers["Cache-Control"] == "no-store"  # the page shows the enrolment link
    assert "direction@college.example" in response.text
    # Shown once: the list does not show it again.
    assert not LINK.search(client.get("/gestion/academie/personnels").text)
    with app.app_context():
        member = db.session.scalar(db.select(StaffMember).where(StaffMember.email == "direction@college.example"))
        assert member.role is StaffRole.ETABLISSEMENT
        assert [each.uai for each in member.establishments] == ["0140001A", "0610002B"]
        assert link.rsplit("/", 1)[1] not in member.enrolment_token_hash

    newcomer = client.application.test_client()
    path = link.removeprefix("http://localhost")
    page = newcomer.get(path)
    assert page.status_code == 200 and "Anne Leroy" in page.text
    newcomer.post(path, data={"password": STAFF_PASSWORD, "confirmation": STAFF_PASSWORD, "csrf_token": csrf_token(page.text)})
    assert newcomer.get("/gestion/double-authentification").status_code == 200
    assert newcomer.get(path).status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "pas-une-adresse", "uais": "0140001A"}, "Adresse mail invalide"),
        ({"uais": ""}, "au moins un établissement"),
        ({"uais": "0999999Z"}, "Établissement inconnu : 0999999Z"),
        ({"uais": "nimporte"}, "UAI invalide"),
        ({"email": "admin@ac-normandie.example", "uais": "0140001A"}, "Un personnel a déjà l&#39;adresse admin@ac-normandie.example"),
    ],
)
def test_bad_staff_input_is_refused_on_its_field_and_nothing_is_created(app, client, administrator, establishment, clock, fields, message):
    log_in(client, administrator)
    data = {"email": "nouveau@college.example", "given_name": "Anne", "family_name": "Leroy", "role": "etablissement", **fields}
    response = post_form(client, "/gestion/academie/personnels", **data)
    assert response.status_code == 200
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(StaffMember)) == 1


@pytest.mark.parametrize("email", ["é@é.é", "😀@x.fr", "\u202e@x.fr", "<script>@x.fr", "claire,x@parent.example"])
def test_a_staff_address_the_mailer_cannot_send_to_is_refused_and_nothing_created(app, client, administrator, establishment, clock, email):
    log_in(client, administrator)
    data = {"email": email, "given_name": "Anne", "family_name": "Leroy", "role": "etablissement", "uais": "0140001A"}
    response = post_form(client, "/gestion/academie/personnels", **data)
    assert response.status_code == 200
    assert "Adresse mail invalide" in response.text and 'aria-invalid="true"' in response.text
    if email.startswith("\u202e"):  # the message quotes an invisible character, it does not apply it
        assert "Adresse mail invalide : \\u202e@x.fr</p>" in response.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(StaffMember)) == 1


def test_a_new_enrolment_link_replaces_a_lost_password_and_phone(app, client, administrator, secretary, clock, audit_events):
    log_in(client, administrator)
    token = csrf_token(client.get("/gestion/academie/personnels").text)
    response = client.post(f"/gestion/academie/personnels/{secretary.id}/inscription", data={"csrf_token": token})
    assert response.status_code == 200
    assert LINK.search(response.text)
    with app.app_context():
        member = db.session.get(StaffMember, secretary.id)
        assert member.password_hash is None and member.totp_secret_encrypted is None and not member.recovery_codes
    other = client.application.test_client()
    assert post_password(other, secretary.email).status_code == 200  # the old password is gone
    assert audit_events("staff_enrolment_restarted")[-1].details == {"staff": administrator.email, "member": secretary.email}


def test_relying_parties_are_listed_read_only(client, administrator, ent, clock):
    log_in(client, administrator)
    page = client.get("/gestion/academie/services")
    assert page.status_code == 200
    assert "L&#39;Educ de Normandie" in page.text and ent.client_id in page.text
    actions = re.findall(r'<form method="post" action="([^"]*)"', page.text)
    assert set(actions) <= {"/gestion/deconnexion"}
    assert client.post("/gestion/academie/services", data={"csrf_token": csrf_token(page.text)}).status_code == 405


def test_establishment_staff_get_404_on_academie_pages(client, secretary, clock):
    log_in(client, secretary)
    for path in ("/gestion/academie/etablissements", "/gestion/academie/personnels", "/gestion/academie/services"):
        assert client.get(path).status_code == 404
    token = csrf_token(client.get("/gestion/etablissements/0140001A/").text)
    assert client.post(f"/gestion/academie/personnels/{secretary.id}/inscription", data={"csrf_token": token}).status_code == 404


def test_academie_sees_every_establishment(client, administrator, establishment, other_establishment, clock):
    log_in(client, administrator)
    home = client.get("/gestion/").text
    assert "0140001A" in home and "0610002B" in home
    assert client.get("/gestion/etablissements/0610002B/").status_code == 200


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_cli_staff_add_prints_the_enrolment_link(run, client, establishment, other_establishment):
    result = run(
        "staff", "add", "--email", "Secretariat@College.example", "--given-name", "Claire", "--family-name", "Martin",
        "--establishment", "0140001A", "--establishment", "0610002b", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"email", "role", "establishments", "enrolment_link"}
    assert created["email"] == "secretariat@college.example"
    assert created["role"] == "etablissement"
    assert created["establishments"] == ["0140001A", "0610002B"]
    assert created["enrolment_link"].startswith("http://localhost/gestion/inscription/")
    assert client.get(created["enrolment_link"].removeprefix("http://localhost")).status_code == 200

    result = run("staff", "add", "--email", "admin@ac.example", "--given-name", "Paul", "--family-name", "Durand", "--role", "academie")
    assert result.exit_code == 0, result.output
    assert "Lien d'inscription" in result.output and "/gestion/inscription/" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "--establishment UAI"),
        (("--establishment", "0999999Z"), "Établissement inconnu"),
        (("--role", "academie", "--establishment", "0140001A"), "n'indiquez pas d'UAI"),
    ],
)
def test_cli_staff_add_refuses_bad_input_cleanly(app, run, establishment, extra, message):
    result = run("staff", "add", "--email", "x@college.example", "--given-name", "X", "--family-name", "Y", *extra)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(StaffMember)) == 0


def test_the_first_login_of_a_staff_member_made_by_the_cli(run, client, establishment, clock):
    result = run("staff", "add", "--email", "a@b.example", "--given-name", "A", "--family-name", "B", "--role", "academie", "--json")
    created = json.loads(result.output)
    path = created["enrolment_link"].removeprefix("http://localhost")
    page = client.get(path)
    client.post(path, data={"password": STAFF_PASSWORD, "confirmation": STAFF_PASSWORD, "csrf_token": csrf_token(page.text)})
    setup = client.get("/gestion/double-authentification").text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', setup).group(1).replace(" ", "")
    client.post("/gestion/double-authentification", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(setup)})
    assert client.get("/gestion/academie/personnels").status_code == 200


def test_an_unknown_role_is_refused_in_words(app, client, administrator, clock):
    log_in(client, administrator)
    data = {"email": "x@college.example", "given_name": "Anne", "family_name": "Leroy", "role": "roi", "uais": ""}
    response = post_form(client, "/gestion/academie/personnels", **data)
    assert "Choisissez le rôle." in response.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(StaffMember)) == 1
