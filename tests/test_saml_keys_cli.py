"""SAML signing keys are the provider's signing keys (idp.saml.keys), and `idp saml-sp`."""

import base64
import json
import re
from datetime import timedelta

from saml2 import BINDING_HTTP_REDIRECT, BINDING_SOAP

from idp.extensions import db
from idp.oidc.keys import PUBLISH_AHEAD, key_store
from idp.relying_parties.saml import read_metadata, register_service_provider
from idp.saml import keys as saml_keys

from .conftest import PASSWORD
from .saml_helpers import ServiceProvider, posted_form
from .test_saml_sso import idp_metadata, make_sp  # noqa: F401  (fixtures)
from .travel import frozen

CERTIFICATE = re.compile(r"X509Certificate>([^<]+)</")


def certificates(client):
    return [body.strip() for body in CERTIFICATE.findall(client.get("/saml/metadata").text)]


def signing_certificate(page):
    _, fields = posted_form(page)
    return CERTIFICATE.search(base64.b64decode(fields["SAMLResponse"]).decode()).group(1).replace("\n", "")


def test_rotation_publishes_the_new_certificate_before_it_signs(app, client, parent):
    with frozen() as traveller:
        [old] = certificates(client)
        with app.app_context():
            key_store().rotate()
        published = certificates(client)
        assert len(published) == 2 and old in published
        [new] = [body for body in published if body != old]
        # A service provider that read the metadata after the rotation knows both certificates.
        sp = ServiceProvider(client, client.get("/saml/metadata").text)
        with app.app_context():
            register_service_provider(read_metadata(sp.metadata), "ENT core", "ent", trusted=True)
            db.session.commit()
        page = sp.log_in(sp.authn_request(), parent.identifier, PASSWORD)
        assert signing_certificate(page) == old
        sp.receive(page)
        traveller.shift(PUBLISH_AHEAD + timedelta(seconds=1))
        page = sp.authn_request(force_authn="true")
        page = sp.log_in(page, parent.identifier, PASSWORD)
        assert signing_certificate(page) == new
        sp.receive(page)


def test_the_certificate_is_the_same_wherever_it_is_made(app):
    with app.app_context():
        record, stored = key_store().signing_record()
        first = saml_keys.certificate_pem(record.kid, stored.key, record.created_at)
        saml_keys._certificates.clear()
        assert saml_keys.certificate_pem(record.kid, stored.key, record.created_at) == first


def test_saml_sp_commands(app, client, idp_metadata, tmp_path):
    runner = app.test_cli_runner()
    sp = ServiceProvider(client, idp_metadata, logout=(BINDING_HTTP_REDIRECT, BINDING_SOAP))
    path = tmp_path / "sp.xml"
    path.write_text(sp.metadata)
    result = runner.invoke(args=["saml-sp", "add", "--metadata", str(path), "--name", "ENT core", "--category", "ent", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["entity_id"] == sp.entity_id and data["nameid"] == "persistent"
    assert data["attributes"]["FrEduVecteur"] == "FrEduVecteur"
    assert data["single_logout"]["SOAP"] == "https://sp.example.org/soap"
    assert data["signs_requests"] and data["encrypted"]

    again = runner.invoke(args=["saml-sp", "add", "--metadata", str(path), "--name", "Encore", "--category", "ent"])
    assert again.exit_code == 1 and "porte déjà l'entityID" in again.output

    result = runner.invoke(
        args=["saml-sp", "update", sp.entity_id, "--attributes", "givenName,sn=nom,FrEduVecteur", "--nameid", "transient", "--trusted"]
    )
    assert result.exit_code == 0 and "attributes" in result.output
    shown = runner.invoke(args=["saml-sp", "show", sp.entity_id])
    assert "given_name=urn:oid:2.5.4.42,family_name=nom,FrEduVecteur=FrEduVecteur" in shown.output
    assert "NameID : transient" in shown.output
    assert sp.entity_id in runner.invoke(args=["saml-sp", "list"]).output
    assert json.loads(runner.invoke(args=["saml-sp", "list", "--json"]).output)[0]["nameid"] == "transient"

    bad = runner.invoke(args=["saml-sp", "update", sp.entity_id, "--attributes", "password"])
    assert bad.exit_code == 1 and "Attribut inconnu" in bad.output
    assert runner.invoke(args=["saml-sp", "remove", sp.entity_id]).exit_code == 0
    assert runner.invoke(args=["saml-sp", "show", sp.entity_id]).exit_code == 1
    assert "Aucun fournisseur" in runner.invoke(args=["saml-sp", "list"]).output


def test_metadata_is_validated(app, tmp_path):
    runner = app.test_cli_runner()
    cases = {
        "not-xml.xml": "ceci n'est pas du XML",
        "idp.xml": '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x.example.org">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>',
        "bomb.xml": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = runner.invoke(args=["saml-sp", "add", "--metadata", str(path), "--name", "X", "--category", "ent"])
        assert result.exit_code == 1, (name, result.output)
        assert "Traceback" not in result.output
    big = tmp_path / "big.xml"
    big.write_text(" " * (300 * 1024))
    assert "trop grandes" in runner.invoke(args=["saml-sp", "add", "--metadata", str(big), "--name", "X", "--category", "ent"]).output
    missing = runner.invoke(args=["saml-sp", "add", "--name", "X", "--category", "ent"])
    assert missing.exit_code == 1 and "obligatoires" in missing.output
    insecure = runner.invoke(args=["saml-sp", "add", "--metadata-url", "http://sp.example.org/md", "--name", "X", "--category", "ent"])
    assert "https" in insecure.output
    with app.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM saml_service_provider")).scalar() == 0
