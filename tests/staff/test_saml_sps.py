"""The académie's pages of the SAML service providers: list, registration from metadata (a
file or its address), one provider, its removal; closed to establishments' staff."""

import io
import re

from idp.extensions import db
from idp.models import SamlServiceProvider

from ..oidc_helpers import csrf_token
from ..saml_helpers import key_and_certificate, sp_metadata
from .conftest import log_in


def metadata_bytes(tmp_path, base="https://ent.example.org"):
    _, cert_file = key_and_certificate(tmp_path, "ent")
    return sp_metadata(base, cert_file).encode()


def add(client, tmp_path, name="ENT core", **extra):
    page = client.get("/gestion/academie/saml")
    data = {"name": name, "category": "ent", "csrf_token": csrf_token(page.text), **extra}
    if "metadata_url" not in extra:
        data["metadata_file"] = (io.BytesIO(metadata_bytes(tmp_path)), "ent.xml")
    return client.post("/gestion/academie/saml", data=data, content_type="multipart/form-data")


def test_academie_registers_shows_and_removes_a_service_provider(app, client, administrator, clock, tmp_path, audit_events):
    log_in(client, administrator)
    page = client.get("/gestion/academie/saml")
    assert page.status_code == 200 and "Aucun service SAML" in page.text
    assert "http://localhost/saml/metadata" in page.text

    response = add(client, tmp_path)
    assert response.status_code == 303
    shown = client.get(response.location)
    assert "ENT core" in shown.text and "https://ent.example.org/mellon/metadata" in shown.text
    assert "FrEduVecteur=FrEduVecteur" in shown.text
    assert "SOAP https://ent.example.org/mellon/logout" in shown.text
    assert audit_events("saml_sp_added")[-1].details == {"sp": "https://ent.example.org/mellon/metadata", "staff": administrator.email}
    assert "ENT core" in client.get("/gestion/academie/saml").text

    again = add(client, tmp_path, name="Doublon")
    assert again.status_code == 400 and "porte déjà l&#39;entityID" in again.text

    remove = re.search(r'<form method="post" action="([^"]+/suppression)"', shown.text).group(1)
    removed = client.post(remove, data={"csrf_token": csrf_token(shown.text)})
    assert removed.status_code == 303
    with app.app_context():
        assert db.session.query(SamlServiceProvider).count() == 0
    assert client.get(response.location).status_code == 404
    assert client.post(remove, data={}).status_code == 400


def test_bad_metadata_changes_nothing(app, client, administrator, clock, tmp_path):
    log_in(client, administrator)
    page = client.get("/gestion/academie/saml")
    token = csrf_token(page.text)
    bad = client.post(
        "/gestion/academie/saml",
        data={"name": "X", "category": "ent", "csrf_token": token, "metadata_file": (io.BytesIO(b"<nope"), "x.xml")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "Métadonnées illisibles" in bad.text
    nothing = client.post("/gestion/academie/saml", data={"name": "X", "category": "ent", "csrf_token": token})
    assert nothing.status_code == 400 and "Donnez le fichier" in nothing.text
    insecure = add(client, tmp_path, metadata_url="http://ent.example.org/md")
    assert insecure.status_code == 400 and "https" in insecure.text
    empty = client.post("/gestion/academie/saml", data={"csrf_token": token})
    assert empty.status_code == 200 and "Saisissez le nom" in empty.text
    with app.app_context():
        assert db.session.query(SamlServiceProvider).count() == 0


def test_establishment_staff_get_404(client, secretary, clock):
    log_in(client, secretary)
    assert client.get("/gestion/academie/saml").status_code == 404
    assert client.get("/gestion/academie/saml/1").status_code == 404
