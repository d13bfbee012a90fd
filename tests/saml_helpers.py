"""A SAML service provider in the test process: pysaml2's own client (not our code), driven
through the Flask test client, with its own key and certificate."""

import base64
import html
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from .oidc_helpers import csrf_token, login_form_action

FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)" id="saml-post">')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def key_and_certificate(folder, name="sp"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.now(UTC) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = Path(folder) / f"{name}.key", Path(folder) / f"{name}.crt"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def sp_metadata(base, certificate):
    """Metadata as mod_auth_mellon's endpoints are laid out (SOAP and HTTP-Redirect logout)."""
    body = "".join(line for line in Path(certificate).read_text().splitlines() if "CERTIFICATE" not in line)
    key_info = f'<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
    return f"""<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{base}/mellon/metadata">
  <SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing">{key_info}</KeyDescriptor>
    <KeyDescriptor use="encryption">{key_info}</KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="{base}/mellon/logout"/>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{base}/mellon/logout"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>
    <AssertionConsumerService index="0" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
      Location="{base}/mellon/postResponse"/>
  </SPSSODescriptor>
</EntityDescriptor>
"""


def posted_form(response):
    """(action, fields) of the auto-posting page of the provider."""
    assert response.status_code == 200, (response.status_code, response.text[:800])
    match = FORM_ACTION.search(response.text)
    assert match, response.text[:800]
    return html.unescape(match.group(1)), {name: html.unescape(value) for name, value in HIDDEN.findall(response.text)}


class ServiceProvider:
    """pysaml2's Saml2Client as a service provider of the provider under test."""

    def __init__(
        self,
        browser,
        idp_metadata,
        entity_id="https://sp.example.org/metadata",
        sign_requests=True,
        encrypt=True,
        logout=(BINDING_HTTP_REDIRECT,),
        base="https://sp.example.org",
    ):
        self.browser = browser
        self.sign_requests = sign_requests
        self.folder = tempfile.mkdtemp(prefix="saml-sp-")
        key_file, cert_file = key_and_certificate(self.folder, "sp")
        self.entity_id, self.base = entity_id, base
        self.acs = f"{base}/acs"
        self.slo = f"{base}/slo"
        endpoints = {"assertion_consumer_service": [(self.acs, BINDING_HTTP_POST), (f"{base}/acs2", BINDING_HTTP_POST)]}
        if logout:
            endpoints["single_logout_service"] = [(self.slo if binding != BINDING_SOAP else f"{base}/soap", binding) for binding in logout]
        settings = {
            "entityid": entity_id,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": key_file,
            "cert_file": cert_file,
            "metadata": {"inline": [idp_metadata]},
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "service": {
                "sp": {
                    "endpoints": endpoints,
                    "authn_requests_signed": sign_requests,
                    "logout_requests_signed": True,
                    "want_assertions_signed": True,
                    "want_response_signed": True,
                    "allow_unsolicited": True,
                    "allow_unknown_attributes": True,
                    "name_id_format_allow_create": True,
                }
            },
        }
        if encrypt:
            settings["encryption_keypairs"] = [{"key_file": key_file, "cert_file": cert_file}]
        config = SPConfig()
        config.load(settings)
        self.config = config
        self.client = Saml2Client(config=config)
        descriptor = entity_descriptor(config)
        if not encrypt:
            descriptor.spsso_descriptor.key_descriptor = [k for k in descriptor.spsso_descriptor.key_descriptor if k.use != "encryption"]
        self.metadata = str(descriptor)
        self.idp_entity_id = next(iter(self.client.metadata.identity_providers()))
        self.outstanding = {}

    def sso_location(self, binding):
        return self.client.metadata.single_sign_on_service(self.idp_entity_id, binding)[0]["location"]

    def authn_request(self, binding=BINDING_HTTP_REDIRECT, relay_state="to-the-page", sign=None, **options):
        """Send an AuthnRequest by `binding`; return the provider's answer."""
        destination = self.sso_location(binding)
        sign = self.sign_requests if sign is None else sign
        if binding == BINDING_HTTP_POST:
            request_id, request = self.client.create_authn_request(
                destination, sign=sign, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **options
            )
            self.outstanding[request_id] = relay_state
            data = {"SAMLRequest": base64.b64encode(str(request).encode()).decode(), "RelayState": relay_state}
            return self.browser.post(urlsplit(destination).path, data=data)
        request_id, request = self.client.create_authn_request(destination, sign=False, **options)
        self.outstanding[request_id] = relay_state
        info = self.client.apply_binding(
            BINDING_HTTP_REDIRECT, str(request), destination, relay_state=relay_state, sign=sign, sigalg=SIG_RSA_SHA256
        )
        location = dict(info["headers"])["Location"]
        parts = urlsplit(location)
        return self.browser.get(f"{parts.path}?{parts.query}")

    def log_in(self, page, identifier, password):
        action = login_form_action(page)
        assert action is not None, (page.status_code, page.text[:800])
        return self.browser.post(action, data={"identifier": identifier, "password": password, "csrf_token": csrf_token(page.text)})

    def receive(self, page):
        """The assertion the provider's page posts to our ACS, checked by pysaml2 (signatures,
        audience, InResponseTo, decryption)."""
        action, fields = posted_form(page)
        assert action in (self.acs, f"{self.base}/acs2"), action
        response = self.client.parse_authn_request_response(fields["SAMLResponse"], BINDING_HTTP_POST, outstanding=dict(self.outstanding))
        assert response is not None
        return response, fields

    def login(self, identifier, password, binding=BINDING_HTTP_REDIRECT, **options):
        page = self.authn_request(binding, **options)
        if login_form_action(page) is not None:
            page = self.log_in(page, identifier, password)
        return self.receive(page)


def attributes(response):
    """{Name: [values]} of the assertion's attributes, as sent (pysaml2 drops the names it does not know)."""
    found = {}
    for statement in response.assertion.attribute_statement:
        for attribute in statement.attribute:
            found[attribute.name] = [value.text for value in attribute.attribute_value]
    return found
