"""The establishment's contact details in the back office: shown on the dashboard, changed by
its staff or the académie only, checked field by field, audited; the letters print them."""

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Establishment

from ..oidc_helpers import csrf_token
from .conftest import log_in

PAGE = "/gestion/etablissements/0140001A/coordonnees"


def _stored(app, uai="0140001A"):
    with app.app_context():
        found = db.session.scalar(select(Establishment).where(Establishment.uai == uai))
        return found.address, found.phone, found.contact


def test_the_dashboard_shows_the_form_and_its_staff_change_the_details(app, client, secretary, school, clock):
    log_in(client, secretary)
    dashboard = client.get("/gestion/etablissements/0140001A/").text
    assert "Coordonnées de l'établissement" in dashboard
    assert 'action="/gestion/etablissements/0140001A/coordonnees"' in dashboard
    assert 'name="csrf_token"' in dashboard
    token = csrf_token(dashboard)
    response = client.post(
        PAGE,
        data={"csrf_token": token, "address": "12 rue des Écoles\r\n\r\n14000  Caen", "phone": "+33 2 31 00 00 00", "contact": ""},
    )
    assert response.status_code == 303
    assert _stored(app) == ("12 rue des Écoles\n14000 Caen", "02 31 00 00 00", None)
    page = client.get(response.headers["Location"]).text
    assert "Coordonnées de l&#39;établissement enregistrées" in page
    assert "12 rue des Écoles\n14000 Caen</textarea>" in page and 'value="02 31 00 00 00"' in page
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "establishment_updated"))
        assert event is not None and event.details["uai"] == "0140001A"
        assert sorted(event.details["fields"]) == ["address", "phone"]
        assert event.details["staff"] == secretary.email


def test_a_wrong_phone_is_refused_beside_its_field_and_nothing_changes(app, client, secretary, school, clock):
    log_in(client, secretary)
    token = csrf_token(client.get(PAGE).text)
    response = client.post(PAGE, data={"csrf_token": token, "address": "1 rue A", "phone": "12 34", "contact": ""})
    assert response.status_code == 400
    assert "Saisissez un numéro de téléphone français, par exemple 02 31 00 00 00" in response.text
    assert 'aria-invalid="true"' in response.text
    assert _stored(app) == (None, None, None)


def test_without_the_csrf_token_nothing_changes(app, client, secretary, school, clock):
    log_in(client, secretary)
    response = client.post(PAGE, data={"phone": "02 31 00 00 00"})
    assert response.status_code == 400
    assert _stored(app) == (None, None, None)


def test_other_establishments_staff_get_a_404(app, client, make_staff, school, clock):
    other = make_staff("autre@lycee.example", uais=["0610002B"])
    log_in(client, other)
    assert client.get(PAGE).status_code == 404
    token = csrf_token(client.get("/gestion/etablissements/0610002B/coordonnees").text)
    assert client.post(PAGE, data={"csrf_token": token, "phone": "02 31 00 00 00"}).status_code == 404
    assert _stored(app) == (None, None, None)


def test_the_academie_may_edit_any_establishment(app, client, administrator, school, clock):
    log_in(client, administrator)
    token = csrf_token(client.get(PAGE).text)
    response = client.post(PAGE, data={"csrf_token": token, "contact": "Secrétariat : 02 31 99 99 99, le matin"})
    assert response.status_code == 303
    assert _stored(app) == (None, None, "Secrétariat : 02 31 99 99 99, le matin")
