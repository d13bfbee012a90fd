"""An establishment's degree (and name), which makes its families' school claims: changed by
`idp establishment update --degree` and on the académie's page, audited."""

from idp.extensions import db
from idp.models import AuditEvent, Establishment

from ..oidc_helpers import csrf_token
from ..test_cli import run  # noqa: F401 (fixture)
from .conftest import bound_labels, log_in

PAGE = "/gestion/academie/etablissements/0140001A"


def _degree(app, uai="0140001A"):
    with app.app_context():
        return db.session.scalar(db.select(Establishment.degree).where(Establishment.uai == uai))


def test_the_command_changes_the_degree(run, app, establishment):  # noqa: F811
    result = run("establishment", "update", "0140001A", "--degree", "1d")
    assert result.exit_code == 0, result.output
    assert result.output == "Établissement 0140001A modifié : degree.\n"
    assert _degree(app) == "1d"
    assert run("establishment", "update", "0140001A", "--degree", "3d").exit_code == 2
    assert _degree(app) == "1d"
    with app.app_context():
        events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == "establishment_updated")).all()
        assert [event.details["fields"] for event in events] == [["degree"]]


def test_the_academie_changes_name_and_degree(app, client, administrator, establishment, clock, audit_events):
    log_in(client, administrator)
    listing = client.get("/gestion/academie/etablissements").text
    assert f'href="{PAGE}"' in listing and "second degré" in listing
    page = client.get(PAGE)
    assert page.status_code == 200 and bound_labels(page.text) and "<script" not in page.text
    assert 'checked id="degree-0" name="degree" type="radio" value="2d"' in page.text
    data = {"csrf_token": csrf_token(page.text), "name": "École Jean Moulin", "degree": "1d"}
    response = client.post(PAGE, data=data)
    assert response.status_code == 303
    assert "premier degré" in client.get(response.location).text
    assert _degree(app) == "1d"
    details = audit_events("establishment_updated")[-1].details
    assert details == {"uai": "0140001A", "fields": ["name", "degree"], "staff": administrator.email}
    # The same again changes nothing and records nothing.
    assert client.post(PAGE, data=data).status_code == 303
    assert len(audit_events("establishment_updated")) == 1


def test_a_bad_degree_or_name_changes_nothing(app, client, administrator, establishment, clock):
    log_in(client, administrator)
    token = csrf_token(client.get(PAGE).text)
    refused = (({"name": "Collège", "degree": "3d"}, "Choisissez le degré."), ({"name": "", "degree": "1d"}, "Saisissez le nom."))
    for data, message in refused:
        response = client.post(PAGE, data={**data, "csrf_token": token})
        assert response.status_code == 400 and message in response.text
    response = client.post(PAGE, data={"name": "x" * 150 + " " + "y" * 60, "degree": "1d", "csrf_token": token})
    assert response.status_code == 400
    assert _degree(app) == "2d"


def test_only_the_academie_reaches_the_page(client, secretary, administrator, establishment, clock):
    log_in(client, secretary)
    assert client.get(PAGE).status_code == 404


def test_an_unknown_or_malformed_uai_is_a_404(client, administrator, clock):
    log_in(client, administrator)
    assert client.get("/gestion/academie/etablissements/0999999Z").status_code == 404
    assert client.get("/gestion/academie/etablissements/nope").status_code == 404
