"""The metrics at /metrics (idp.metrics): who may read them, and the counters moving with
real requests through the real routes."""

import json
import os
import re
import subprocess
import sys
from datetime import UTC, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from idp.config import ROOT
from idp.extensions import db
from idp.mail import send_test_message
from idp.models import Client, LogoutNotice

from .conftest import PASSWORD
from .test_login import post_login, set_account
from .test_overload import saturated
from .test_tokens import userinfo
from .travel import frozen, moment

TOKEN = "metrics-token-for-the-tests"


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def scrape(client):
    """{(name, labels as a sorted tuple): value} of every sample of the page."""
    response = client.get("/metrics", headers=bearer())
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def moved(before, after, name, **labels):
    """How much a sample grew between two scrapes (the counters are the process's)."""
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def settings(settings):
    return settings | {"METRICS_TOKEN": TOKEN}


# --- who may read them ------------------------------------------------------------------


def test_without_token_nor_allowed_addresses_the_page_does_not_exist(make_app, settings):
    client = make_app(settings | {"METRICS_TOKEN": "", "METRICS_ALLOW": []}).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=bearer("")).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_the_token_opens_the_page_and_nothing_else_does(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=bearer("wrong")).status_code == 404
    assert client.get("/metrics", headers=bearer(TOKEN + "x")).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 404
    response = client.get("/metrics", headers=bearer())
    assert response.status_code == 200
    assert "idp_logins_total" in response.text
    assert "Set-Cookie" not in response.headers


def test_allowed_addresses_open_the_page_without_token(make_app, settings):
    allowed = make_app(settings | {"METRICS_TOKEN": "", "METRICS_ALLOW": ["10.0.0.0/8", "127.0.0.1"]}).test_client()
    assert allowed.get("/metrics").status_code == 200
    assert allowed.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert allowed.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 404
    assert allowed.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:10.1.2.3"}).status_code == 200
    elsewhere = make_app(settings | {"METRICS_TOKEN": "", "METRICS_ALLOW": ["10.0.0.0/8", "2001:db8::/32"]}).test_client()
    assert elsewhere.get("/metrics").status_code == 404
    assert elsewhere.get("/metrics", environ_base={"REMOTE_ADDR": "2001:db8::5"}).status_code == 200


def test_a_token_and_allowed_addresses_each_open_the_page(make_app, settings):
    client = make_app(settings | {"METRICS_ALLOW": ["10.0.0.0/8"]}).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200
    assert client.get("/metrics", headers=bearer()).status_code == 200
    assert client.get("/metrics", headers=bearer("wrong")).status_code == 404


def test_an_allowed_address_that_is_none_stops_the_start(make_app, settings):
    with pytest.raises(ValueError, match="IDP_METRICS_ALLOW"):
        make_app(settings | {"METRICS_ALLOW": ["10.0.0.0/8", "localhost"]})


# --- the counters move with real requests -------------------------------------------------


def test_logins_are_counted_by_result(client, app, parent):
    before = scrape(client)
    assert post_login(client, "jean.dupont1", PASSWORD).status_code == 303
    post_login(client, "jean.dupont1", "wrong-password-1")
    post_login(client, "nobody.here1", "wrong-password-1")
    set_account(app, "jean.dupont1", state="expired")
    assert post_login(client, "jean.dupont1", PASSWORD).status_code == 403
    after = scrape(client)
    assert moved(before, after, "idp_logins_total", result="success", reason="") == 1
    assert moved(before, after, "idp_logins_total", result="wrong_password", reason="") == 2
    assert moved(before, after, "idp_logins_total", result="refused", reason="expired") == 1
    assert moved(before, after, "idp_logins_total", result="throttled", reason="") == 0
    # Each page and each answer timed under the endpoint's name; each argon2id computation
    # too (an unknown identifier costs a hash, as much as a verification).
    assert moved(before, after, "idp_request_duration_seconds_count", endpoint="auth.login") == 8
    assert moved(before, after, "idp_password_hash_duration_seconds_count", operation="verify") == 3
    assert moved(before, after, "idp_password_hash_duration_seconds_count", operation="hash") == 1


def test_throttled_logins_are_counted(client, parent):
    before = scrape(client)
    with frozen():
        for _ in range(5):
            post_login(client, "jean.dupont1", "wrong-password-1")
        assert post_login(client, "jean.dupont1", PASSWORD).status_code == 429
    after = scrape(client)
    assert moved(before, after, "idp_logins_total", result="throttled", reason="") == 1
    assert moved(before, after, "idp_logins_total", result="wrong_password", reason="") == 5


def test_overload_refusals_are_counted_by_where(app, client, ent, parent):
    page, _ = ent.authorize()
    before = scrape(client)
    with saturated(app):
        assert app.test_client().get("/connexion").status_code == 503  # a new browser: in front of Flask
        assert ent.authorize()[0].status_code == 503  # a browser with cookies: by the view
        assert ent.log_in(page, parent.identifier, PASSWORD).status_code == 503
        # The metrics page is not a login: served while saturated.
        after = scrape(client)
    assert moved(before, after, "idp_overload_refusals_total", at="page") == 2
    assert moved(before, after, "idp_overload_refusals_total", at="answer") == 1


@pytest.mark.both_paths
def test_tokens_are_counted_by_grant_and_userinfo_by_result(client, ent, parent):
    before = scrape(client)
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    assert userinfo(ent, tokens["access_token"]).status_code == 200
    assert userinfo(ent, "not-a-token").status_code == 401
    assert ent.refresh(tokens["refresh_token"]).status_code == 200
    assert ent.refresh(tokens["refresh_token"]).status_code == 400  # a reuse issues nothing
    after = scrape(client)
    assert moved(before, after, "idp_tokens_issued_total", grant_type="authorization_code") == 1
    assert moved(before, after, "idp_tokens_issued_total", grant_type="refresh_token") == 1
    assert moved(before, after, "idp_userinfo_requests_total", result="served") == 1
    assert moved(before, after, "idp_userinfo_requests_total", result="refused") == 1
    assert moved(before, after, "idp_request_duration_seconds_count", endpoint="oidc.token") == 3


def test_the_outbox_is_measured_when_scraped(make_app, settings):
    app = make_app(settings | {"MAIL_SEND_AFTER_COMMIT": False})
    client = app.test_client()
    start = moment()
    with frozen(start) as traveller:
        samples = scrape(client)
        assert value(samples, "idp_outbox_pending_messages") == 0
        assert value(samples, "idp_outbox_oldest_pending_age_seconds") == 0
        with app.app_context():
            send_test_message("parent@example.org")
            db.session.commit()
        traveller.shift(60)
        with app.app_context():
            send_test_message("autre@example.org")
            db.session.commit()
        traveller.shift(30)
        samples = scrape(client)
    assert value(samples, "idp_outbox_pending_messages") == 2
    assert value(samples, "idp_outbox_oldest_pending_age_seconds") == 90


def test_the_logout_notices_waiting_are_measured_when_scraped(app, client, ent):
    start = moment()
    with frozen(start) as traveller:
        with app.app_context():
            client_pk = db.session.scalar(select(Client.id).where(Client.client_id == ent.client_id))
            for reason in ("logout", "logged_out_everywhere"):
                db.session.add(LogoutNotice(client_pk=client_pk, subject="sub-1", sid=None, reason=reason))
                db.session.commit()
                traveller.shift(45)
        samples = scrape(client)
    assert value(samples, "idp_logout_notices_pending") == 2
    assert value(samples, "idp_logout_notices_oldest_pending_age_seconds") == 90


def test_the_last_sweep_and_purge_are_read_from_the_database(app, client):
    samples = scrape(client)
    assert ("idp_last_sweep_timestamp_seconds", ()) not in samples
    start = moment()
    with frozen(start):
        assert app.test_cli_runner().invoke(args=["sweep"]).exit_code == 0
    with frozen(start + timedelta(minutes=5)):
        assert app.test_cli_runner().invoke(args=["purge"]).exit_code == 0
    samples = scrape(client)
    epoch = start.replace(tzinfo=UTC).timestamp()
    assert value(samples, "idp_last_sweep_timestamp_seconds") == epoch
    assert value(samples, "idp_last_purge_timestamp_seconds") == epoch + 300
    assert value(samples, "idp_last_sweep_accounts", transition="expired") == 0
    assert ("idp_last_purge_rows", (("kind", "audit_events"),)) in samples
    # This process ran both commands: their counters are here too.
    assert ("idp_sweep_accounts_total", (("transition", "invalidated"),)) in samples
    assert ("idp_purge_rows_total", (("kind", "codes"),)) in samples


def test_in_multiprocess_mode_the_processes_values_add_up(client, tmp_path, monkeypatch):
    """Under gunicorn each worker writes its values in PROMETHEUS_MULTIPROC_DIR; a scrape, in
    whichever worker, adds them up."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    environment = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    count = "from idp.metrics import LOGINS; LOGINS.labels(result='success', reason='').inc(3)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=environment, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    samples = scrape(client)
    assert value(samples, "idp_logins_total", result="success", reason="") == 6
    # What the database knows is read by the scraping process itself.
    assert value(samples, "idp_outbox_pending_messages") == 0


def test_the_grafana_dashboard_reads_metrics_that_exist(client):
    """Every metric an expression of docs/grafana-dashboard.json names is one of the page's."""
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    named = {re.sub(r"_(total|bucket|count|sum)$", "", name) for expression in expressions for name in re.findall(r"\bidp_\w+", expression)}
    page = client.get("/metrics", headers=bearer()).text
    families = {family.name for family in text_string_to_metric_families(page)}
    assert named and named <= families, named - families
    assert len(named) >= 14


def test_behind_the_proxy_the_allowed_address_is_the_forwarded_one(make_app, settings):
    """The address the provider computes: X-Forwarded-For counts only from trusted proxies."""
    allow = settings | {"METRICS_TOKEN": "", "METRICS_ALLOW": ["10.0.0.0/8"]}
    proxied = make_app(allow | {"PROXY_COUNT": 1}).test_client()
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 200
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 404
    direct = make_app(allow).test_client()
    assert direct.get("/metrics", headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 404


def test_settings_mask_the_metrics_token(app):
    output = app.test_cli_runner().invoke(args=["settings"]).output
    assert "IDP_METRICS_TOKEN=***" in output.splitlines()
    assert TOKEN not in output
