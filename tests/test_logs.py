"""Request ids (X-Request-Id) and the JSON lines of LOG_FORMAT=json (idp.logs)."""

import json
import logging
import re

import pytest
from flask.logging import default_handler

from idp.logs import JsonHandler

from .conftest import PASSWORD
from .oidc_helpers import csrf_token
from .test_login import post_login


def test_a_request_id_is_made_up_and_echoed(client):
    first, second = client.get("/healthz"), client.get("/connexion")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize("given", ["3f2c9a4e-1b7d-4c7a-9f1e-2d3b4c5d6e7f", "0b5e41f6b2a4c1d9e8f7a6b5c4d3e2f1", "node-1.req:42_x"])
def test_the_proxy_s_request_id_is_kept(client, given):
    assert client.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given


@pytest.mark.parametrize("given", ["", "a" * 65, "id with spaces", "id\u00e9", "x;rm -rf", '"quoted"', "a\tb"])
def test_an_unsafe_request_id_is_replaced(client, given):
    echoed = client.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


def test_error_pages_carry_the_request_id_too(client):
    response = client.get("/no-such-page", headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 404
    assert response.headers["X-Request-Id"] == "abc-123"


def test_audit_lines_name_the_request(client, parent, caplog):
    caplog.set_level(logging.INFO, logger="idp.audit")
    page = client.get("/connexion")
    data = {"identifier": "jean.dupont1", "password": "wrong-password-1", "csrf_token": csrf_token(page.text)}
    response = client.post("/connexion", data=data, headers={"X-Request-Id": "req-login-42"})
    assert response.status_code == 200
    lines = [record.getMessage() for record in caplog.records if record.name == "idp.audit"]
    assert any(line.startswith("login_failed ") and " request=req-login-42 " in line for line in lines), lines


def test_json_lines_carry_time_level_logger_message_and_request_id(make_app, settings, parent, capsys):
    app = make_app(settings | {"LOG_FORMAT": "json"})
    client = app.test_client()
    response = post_login(client, "jean.dupont1", PASSWORD)
    request_id = response.headers["X-Request-Id"]
    with app.app_context():
        app.logger.warning("outside any request")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    login = next(line for line in lines if line["message"].startswith("login "))
    assert set(login) == {"time", "level", "logger", "message", "request_id"}
    assert login["level"] == "INFO" and login["logger"] == "idp.audit" and login["request_id"] == request_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", login["time"])
    assert PASSWORD not in json.dumps(lines)
    outside = next(line for line in lines if line["message"] == "outside any request")
    assert outside["request_id"] is None and outside["level"] == "WARNING"


def test_json_lines_carry_the_exception(make_app, settings, capsys):
    app = make_app(settings | {"LOG_FORMAT": "json"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        app.logger.exception("it failed")
    line = json.loads(next(line for line in capsys.readouterr().err.splitlines() if '"it failed"' in line))
    assert "RuntimeError: boom" in line["exception"]


def test_the_text_format_comes_back_with_the_next_application(make_app, settings):
    logger = logging.getLogger("idp")
    logger.addHandler(default_handler)  # as Flask adds it where logging is not configured
    try:
        make_app(settings)  # whatever an earlier test's application left
        before = list(logger.handlers)
        make_app(settings | {"LOG_FORMAT": "json"})
        assert default_handler not in logger.handlers
        assert any(isinstance(handler, JsonHandler) for handler in logger.handlers)
        make_app(settings)
        assert sorted(map(id, logger.handlers)) == sorted(map(id, before))
    finally:
        logger.removeHandler(default_handler)


def test_an_unknown_log_format_stops_the_start(make_app, settings):
    with pytest.raises(ValueError, match="IDP_LOG_FORMAT"):
        make_app(settings | {"LOG_FORMAT": "xml"})


def test_documents_replayed_from_memory_have_each_their_own_request_id(client):
    """Discovery and JWKS are replayed in front of Flask: the first answer's id is not."""
    ids = [client.get(path).headers["X-Request-Id"] for path in ("/jwks.json", "/jwks.json", "/.well-known/openid-configuration") * 2]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{32}", each) for each in ids)
    assert client.get("/jwks.json", headers={"X-Request-Id": "rp-42"}).headers["X-Request-Id"] == "rp-42"
