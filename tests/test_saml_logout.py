"""SAML single logout both ways (docs/saml.md, « Single logout »): a service provider's
LogoutRequest (HTTP-Redirect, HTTP-POST) ends the session and the others hear of it; the
provider's own logouts reach the session's service providers, by a frame of the logged-out
page (HTTP-Redirect) or by SOAP (a notice, delivered like the OpenID ones)."""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.pack import make_soap_enveloped_saml_thingy
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from sqlalchemy import select

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.models import LoginSession, LogoutNotice, NoticeStatus
from idp.relying_parties.saml import find_service_provider

from .conftest import PASSWORD
from .logout_helpers import Receiver
from .oidc_helpers import csrf_token
from .saml_helpers import posted_form
from .test_saml_sso import idp_metadata, make_sp  # noqa: F401  (fixtures)


def session_of(app, sid):
    with app.app_context():
        return db.session.scalar(select(LoginSession).where(LoginSession.sid == sid))


def logout_request(sp, response, binding, sign=True):
    """The service provider's LogoutRequest for the session of `response`, sent by `binding`."""
    destination = sp.client.metadata.single_logout_service(sp.idp_entity_id, binding, "idpsso")[0]["location"]
    index = response.assertion.authn_statement[0].session_index
    _, request = sp.client.create_logout_request(
        destination,
        sp.idp_entity_id,
        name_id=response.name_id,
        session_indexes=[index],
        sign=sign and binding == BINDING_HTTP_POST,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    if binding == BINDING_HTTP_POST:
        return sp.browser.post("/saml/slo", data={"SAMLRequest": base64.b64encode(str(request).encode()).decode(), "RelayState": "bye"})
    info = sp.client.apply_binding(BINDING_HTTP_REDIRECT, str(request), destination, relay_state="bye", sign=sign, sigalg=SIG_RSA_SHA256)
    return sp.browser.get("/saml/slo?" + urlsplit(dict(info["headers"])["Location"]).query)


@pytest.fixture
def canteen_rp(make_rp):
    receiver = Receiver()
    yield make_rp("Cantine", category="teleservice", backchannel_logout_uri=receiver.uri), receiver
    receiver.close()


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_sp_initiated_logout_ends_the_session_and_tells_the_others(make_sp, parent, app, canteen_rp, binding, audit_events):
    canteen, receiver = canteen_rp
    sp = make_sp()
    response, _ = sp.login(parent.identifier, PASSWORD)
    canteen.client = sp.browser
    canteen.log_in_and_get_code(parent.identifier, PASSWORD)
    sid = response.assertion.authn_statement[0].session_index

    answer = logout_request(sp, response, binding)
    assert answer.status_code == 303, answer.text[:500]
    assert answer.location.startswith(sp.slo + "?")
    query = dict(parse_qsl(urlsplit(answer.location).query))
    assert query["RelayState"] == "bye"
    parsed = sp.client.parse_logout_request_response(query["SAMLResponse"], BINDING_HTTP_REDIRECT)
    assert parsed.status_ok()
    assert session_of(app, sid).ended_at is not None
    # The OpenID relying party of the session heard of it; the service provider that asked did not.
    assert len(receiver.wait_for(1)) == 1
    assert [event.details.get("sp") for event in audit_events("logout")] == [sp.entity_id]
    # The browser is logged out: the next request asks to log in.
    assert 'name="password"' in sp.authn_request().text


def test_an_unsigned_logout_request_is_refused(make_sp, parent, app):
    sp = make_sp()
    response, _ = sp.login(parent.identifier, PASSWORD)
    page = logout_request(sp, response, BINDING_HTTP_REDIRECT, sign=False)
    assert page.status_code == 400
    assert session_of(app, response.assertion.authn_statement[0].session_index).ended_at is None


def test_a_logout_response_ends_in_an_empty_answer(client):
    assert client.get("/saml/slo", query_string={"SAMLResponse": "x"}).status_code == 204
    assert client.get("/saml/slo").status_code == 400


def test_the_providers_own_logout_reaches_the_service_provider_in_a_frame(make_sp, parent, app):
    sp = make_sp()
    response, _ = sp.login(parent.identifier, PASSWORD)
    page = sp.browser.get("/compte/")
    logged_out = sp.browser.post("/deconnexion", data={"csrf_token": csrf_token(page.text)})
    assert "https://sp.example.org" in logged_out.headers["Content-Security-Policy"].split("frame-src")[1].split(";")[0]
    [frame] = [part.split('"')[0].replace("&amp;", "&") for part in logged_out.text.split('<iframe src="')[1:]]
    assert frame.startswith("/saml/deconnexion-service?")
    sent = sp.browser.get(frame)
    assert sent.status_code == 303 and sent.location.startswith(sp.slo + "?")
    query = dict(parse_qsl(urlsplit(sent.location).query))
    request = sp.client.parse_logout_request(
        query["SAMLRequest"],
        BINDING_HTTP_REDIRECT,
        relay_state=query.get("RelayState"),
        sigalg=query["SigAlg"],
        signature=query["Signature"],
    )
    assert request.message.name_id.text == response.name_id.text
    assert [index.text for index in request.message.session_index] == [response.assertion.authn_statement[0].session_index]
    # A forged frame address leads nowhere.
    assert sp.browser.get("/saml/deconnexion-service?t=forged").status_code == 404


def test_a_service_provider_with_an_http_post_logout_only_gets_a_signed_request_posted_from_a_frame(make_sp, parent, app):
    sp = make_sp(logout=(BINDING_HTTP_POST,))
    with app.app_context():
        registered = find_service_provider(sp.entity_id)
        assert (registered.logout_redirect, registered.logout_post) == (None, sp.slo)
    response, _ = sp.login(parent.identifier, PASSWORD)
    page = sp.browser.get("/compte/")
    logged_out = sp.browser.post("/deconnexion", data={"csrf_token": csrf_token(page.text)})
    assert "https://sp.example.org" in logged_out.headers["Content-Security-Policy"].split("frame-src")[1].split(";")[0]
    [frame] = [part.split('"')[0].replace("&amp;", "&") for part in logged_out.text.split('<iframe src="')[1:]]
    posting = sp.browser.get(frame)
    # A page of the logged-out page's frame, and of no other site's.
    assert posting.status_code == 200
    assert "frame-ancestors 'self'" in posting.headers["Content-Security-Policy"]
    assert posting.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "https://sp.example.org" in posting.headers["Content-Security-Policy"].split("form-action")[1].split(";")[0]
    action, fields = posted_form(posting)
    assert action == sp.slo
    assert b"Signature" in base64.b64decode(fields["SAMLRequest"])  # signed inside: POST has no query to sign
    request = sp.client.parse_logout_request(fields["SAMLRequest"], BINDING_HTTP_POST)
    assert request.message.name_id.text == response.name_id.text
    assert [index.text for index in request.message.session_index] == [response.assertion.authn_statement[0].session_index]
    # The other pages are still no one's frame.
    assert "frame-ancestors 'none'" in logged_out.headers["Content-Security-Policy"]


class SoapServiceProvider:
    """A SOAP SingleLogoutService on loopback, answered by pysaml2 (the service provider's side)."""

    def __init__(self):
        self.requests = []
        self.sp = None
        self.received = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                request = owner.sp.client.parse_logout_request(body, BINDING_SOAP)
                answer = owner.sp.client.create_logout_response(request.message, [BINDING_SOAP], sign=True)
                data = make_soap_enveloped_saml_thingy(str(answer)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with owner.received:
                    owner.requests.append((request.message.name_id.text, [index.text for index in request.message.session_index]))
                    owner.received.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count, timeout=15):
        with self.received:
            self.received.wait_for(lambda: len(self.requests) >= count, timeout)
        return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def soap_sp(make_sp):
    server = SoapServiceProvider()
    server.sp = make_sp(name="Moodle", entity_id="https://moodle.example.org/metadata", base=server.base, logout=(BINDING_SOAP,))
    yield server
    server.close()


def test_logging_out_everywhere_reaches_a_soap_service_provider(soap_sp, parent, app, audit_events):
    sp = soap_sp.sp
    response, _ = sp.login(parent.identifier, PASSWORD)
    page = sp.browser.get("/compte/")
    logged_out = sp.browser.post("/compte/deconnexion-partout", data={"csrf_token": csrf_token(page.text)})
    assert logged_out.status_code == 200
    assert "<iframe" not in logged_out.text  # SOAP: no frame
    wait_for_jobs(app)
    [(name_id, indexes)] = soap_sp.wait_for(1)
    assert name_id == response.name_id.text
    assert indexes == [response.assertion.authn_statement[0].session_index]
    wait_for_jobs(app)
    with app.app_context():
        [notice] = db.session.scalars(select(LogoutNotice)).all()
        assert notice.status == NoticeStatus.DELIVERED and notice.client_pk is None
    assert [event.details["sp"] for event in audit_events("logout_notice_delivered")] == [sp.entity_id]


def test_a_withdrawn_oidc_service_does_not_reach_service_providers(soap_sp, parent, app, ent):
    from idp.accounts.logouts import Ending, notify_relying_parties
    from idp.models import Client

    sp = soap_sp.sp
    sp.login(parent.identifier, PASSWORD)
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == ent.client_id))
        assert notify_relying_parties(Ending.SERVICE_WITHDRAWN, accounts=parent.id, client=client) == 0
        assert notify_relying_parties(Ending.TELESERVICES_REFUSED, accounts=parent.id) == 0  # an ENT
        assert notify_relying_parties(Ending.EVERYWHERE, accounts=parent.id) == 1
        db.session.rollback()


def test_the_notices_of_service_providers_are_listed(soap_sp, parent, app, run_cli=None):
    sp = soap_sp.sp
    sp.login(parent.identifier, PASSWORD)
    from idp.accounts.logouts import Ending, notify_relying_parties

    with app.app_context():
        notify_relying_parties(Ending.EVERYWHERE, accounts=parent.id)
        db.session.commit()
    wait_for_jobs(app)
    result = app.test_cli_runner().invoke(args=["logout-notices", "list", "--all", "--json"])
    assert sp.entity_id in result.output
