"""The SAML door's other paths: registration by URL and its updates, a service provider that
logs out by HTTP-POST only, the other services' frames before the LogoutResponse, consent
without a session, a SOAP service provider that refuses."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from sqlalchemy import select

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.models import LogoutNotice, NoticeStatus

from .conftest import PASSWORD
from .saml_helpers import ServiceProvider, posted_form
from .test_saml_logout import logout_request
from .test_saml_sso import idp_metadata, make_sp  # noqa: F401  (fixtures)


class Serving:
    """A loopback HTTP server answering every request with `status` and `body`."""

    def __init__(self, body=b"", status=200):
        owner = self
        self.body, self.status = body, status

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_registration_by_url_and_its_updates(app, client, idp_metadata, tmp_path):
    sp = ServiceProvider(client, idp_metadata)
    served = Serving(sp.metadata.encode())
    runner = app.test_cli_runner()
    try:
        url = f"{served.base}/metadata"
        added = runner.invoke(args=["saml-sp", "add", "--metadata-url", url, "--name", "Moodle", "--category", "teleservice", "--json"])
        assert added.exit_code == 0, added.output
        assert json.loads(added.output)["metadata_source"] == url
        updated = runner.invoke(
            args=[
                "saml-sp", "update", sp.entity_id, "--metadata-url", url, "--name", "Moodle 4", "--category", "ent",
                "--not-trusted", "--idp-initiated", "--json",
            ]
        )  # fmt: skip
        assert updated.exit_code == 0, updated.output
        assert json.loads(updated.output)["changed"] == ["metadata", "name", "category", "trusted", "idp_initiated"]
        assert "rien à modifier" in runner.invoke(args=["saml-sp", "update", sp.entity_id]).output
        served.status = 404
        gone = runner.invoke(args=["saml-sp", "update", sp.entity_id, "--metadata-url", url])
        assert gone.exit_code == 1 and "inaccessibles" in gone.output
    finally:
        served.close()
    other = ServiceProvider(client, idp_metadata, entity_id="https://other.example.org/metadata")
    path = tmp_path / "other.xml"
    path.write_text(other.metadata)
    mismatch = runner.invoke(args=["saml-sp", "update", sp.entity_id, "--metadata", str(path)])
    assert mismatch.exit_code == 1 and "pas 'https://sp.example.org/metadata'" in mismatch.output
    both = runner.invoke(args=["saml-sp", "update", sp.entity_id, "--metadata", str(path), "--metadata-url", "https://x.example.org"])
    assert both.exit_code == 1 and "pas les deux" in both.output
    unreadable = runner.invoke(args=["saml-sp", "update", sp.entity_id, "--metadata", str(tmp_path / "missing.xml")])
    assert unreadable.exit_code == 1 and "Fichier illisible" in unreadable.output
    shown = runner.invoke(args=["saml-sp", "show", sp.entity_id]).output
    assert "Moodle 4" in shown and "connexion ouverte par le fournisseur d'identité : oui" in shown


def test_a_service_provider_that_logs_out_by_post_only(make_sp, parent, app):
    sp = make_sp(logout=(BINDING_HTTP_POST,))
    response, _ = sp.login(parent.identifier, PASSWORD)
    answer = logout_request(sp, response, BINDING_HTTP_POST)
    action, fields = posted_form(answer)
    assert action == sp.slo and fields["RelayState"] == "bye"
    assert sp.client.parse_logout_request_response(fields["SAMLResponse"], BINDING_HTTP_POST).status_ok()


def test_the_other_services_frames_load_before_the_logout_response(make_sp, parent):
    first = make_sp()
    second = make_sp(entity_id="https://second.example.org/metadata", base="https://second.example.org")
    response, _ = first.login(parent.identifier, PASSWORD)
    second.receive(second.authn_request())
    page = logout_request(first, response, BINDING_HTTP_REDIRECT)
    assert page.status_code == 200 and '<iframe src="/saml/deconnexion-service?' in page.text
    assert "https://sp.example.org/slo?SAMLResponse=" in page.text.replace("&amp;", "&")


def test_a_logout_request_of_an_unknown_or_broken_service(make_sp, client, parent):
    sp = make_sp()
    response, _ = sp.login(parent.identifier, PASSWORD)
    stranger = ServiceProvider(client, client.get("/saml/metadata").text, entity_id="https://stranger.example.org/metadata")
    assert logout_request(stranger, response, BINDING_HTTP_REDIRECT).status_code == 400
    broken = client.post("/saml/slo", data={"SAMLRequest": base64.b64encode(b"<nope").decode()})
    assert broken.status_code == 400


def test_a_logout_request_for_a_session_already_ended_is_answered(make_sp, parent, app):
    sp = make_sp()
    response, _ = sp.login(parent.identifier, PASSWORD)
    assert logout_request(sp, response, BINDING_HTTP_REDIRECT).status_code == 303
    again = logout_request(sp, response, BINDING_HTTP_REDIRECT)
    assert again.status_code == 303
    query = dict(parse_qsl(urlsplit(again.location).query))
    assert sp.client.parse_logout_request_response(query["SAMLResponse"], BINDING_HTTP_REDIRECT).status_ok()


def test_consent_without_a_session_goes_back_to_the_request(make_sp, app):
    import re

    sp = make_sp(trusted=False, idp_initiated=True)
    page = sp.browser.get("/saml/initier", query_string={"sp": sp.entity_id})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    answer = sp.browser.post(f"/saml/consentement?sp={sp.entity_id}", data={"csrf_token": token, "decision": "allow"})
    assert answer.status_code == 303 and answer.location.startswith("/saml/initier?")
    refused = sp.browser.post("/saml/consentement?SAMLRequest=xx", data={"csrf_token": token})
    assert refused.status_code == 400


def test_a_soap_service_provider_that_refuses_is_retried(make_sp, parent, app):
    served = Serving(b"no", status=500)
    try:
        sp = make_sp(entity_id="https://soap.example.org/metadata", base=served.base, logout=(BINDING_SOAP,))
        sp.login(parent.identifier, PASSWORD)
        from idp.accounts.logouts import Ending, notify_relying_parties

        with app.app_context():
            notify_relying_parties(Ending.EVERYWHERE, accounts=parent.id)
            db.session.commit()
        wait_for_jobs(app)
        with app.app_context():
            [notice] = db.session.scalars(select(LogoutNotice)).all()
            assert notice.status == NoticeStatus.PENDING and notice.attempts == 1 and notice.last_error == "Refused: HTTP 500"
        served.status, served.body = 200, b"<not-a-logout-response/>"
        with app.app_context():
            from datetime import timedelta

            from idp.clock import now
            from idp.logout.delivery import flush

            assert flush(now=now() + timedelta(hours=1))["failed"] == 1
            notice = db.session.scalars(select(LogoutNotice)).one()
            assert notice.attempts == 2 and "not a success" in notice.last_error
    finally:
        served.close()


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT])
def test_the_metadata_without_a_key_publishes_none_and_the_frame_of_a_removed_service(make_sp, parent, app, binding):
    sp = make_sp()
    sp.login(parent.identifier, PASSWORD)
    page = sp.browser.get("/compte/")
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    logged_out = sp.browser.post("/deconnexion", data={"csrf_token": token})
    frame = re.search(r'<iframe src="([^"]+)"', logged_out.text).group(1).replace("&amp;", "&")
    from idp.relying_parties.saml import find_service_provider, remove_service_provider

    with app.app_context():
        remove_service_provider(find_service_provider(sp.entity_id))
        db.session.commit()
    assert sp.browser.get(frame).status_code == 404
