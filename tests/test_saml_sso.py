"""SAML 2.0 single sign-on with pysaml2 as the service provider (docs/saml.md)."""

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT

from idp.extensions import db
from idp.relying_parties.saml import read_metadata, register_service_provider

from .conftest import PASSWORD
from .saml_helpers import ServiceProvider


@pytest.fixture
def idp_metadata(client):
    response = client.get("/saml/metadata")
    assert response.status_code == 200
    return response.text


@pytest.fixture
def make_sp(app, client, idp_metadata):
    def make(name="ENT core", category="ent", trusted=True, attributes=None, nameid="persistent", idp_initiated=False, **options):
        sp = ServiceProvider(client, idp_metadata, **options)
        with app.app_context():
            register_service_provider(read_metadata(sp.metadata), name, category, attributes, nameid, trusted, idp_initiated)
            db.session.commit()
        return sp

    return make


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_sso_by_both_bindings(make_sp, parent, binding):
    sp = make_sp()
    response, fields = sp.login(parent.identifier, PASSWORD, binding=binding)
    assert fields["RelayState"] == "to-the-page"
    identity = response.ava
    assert identity["givenName"] == ["Jean"] or identity.get("urn:oid:2.5.4.42") == ["Jean"], identity
    assert response.name_id.format == NAMEID_FORMAT_PERSISTENT
    assert response.assertion.authn_statement[0].session_index

