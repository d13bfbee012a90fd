"""gunicorn's access log through idp.access_log.MaskingLogger: no token of a path or query,
no cookie, whatever the log format asks for; and every route with a token is covered."""

import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from idp.access_log import MaskingLogger, mask

TOKEN = "Zr3_k-9QpL2mW8xYtBvN4cD7eF1gH5jK"


def access_line(tmp_path, method, uri, log_format=None, headers=(), status="200 OK", location=None, response_headers=()):
    """The line gunicorn's access log writes for one request, through MaskingLogger."""
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    if log_format:
        config.set("access_log_format", log_format)
    logger = MaskingLogger(config)
    path, _, query = uri.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.5",
        "HTTP_REFERER": f"https://teleservices.example/activation/{TOKEN}",
    }
    sent_headers = [("Location", location)] if location else []
    response = SimpleNamespace(status=status, headers=sent_headers + list(response_headers), sent=120)
    request = SimpleNamespace(headers=list(headers))
    try:
        logger.access(response, request, environ, timedelta(milliseconds=12))
        logger.info("Booting worker with pid: %s", 4242)
    finally:
        for log in (logger.access_log, logger.error_log):
            for handler in list(log.handlers):
                handler.close()
                log.removeHandler(handler)
    return (tmp_path / "access.log").read_text()


@pytest.mark.parametrize(
    "path",
    [
        f"/activation/{TOKEN}",
        f"/mot-de-passe-oublie/{TOKEN}",
        f"/compte/adresse-mail/{TOKEN}",
        f"/gestion/inscription/{TOKEN}",
    ],
)
def test_the_default_format_masks_the_token_of_the_path(tmp_path, path):
    line = access_line(tmp_path, "GET", path)
    assert TOKEN not in line
    assert f'"GET {path.replace(TOKEN, "***")} HTTP/1.1" 200' in line


def test_every_atom_is_masked_and_cookies_are_left_out(tmp_path):
    log_format = "%(r)s|%(U)s|%(q)s|%(f)s|%({raw_uri}e)s|%({path_info}e)s|%({cookie}i)s|%({location}o)s|%({set-cookie}o)s"
    line = access_line(
        tmp_path,
        "GET",
        f"/mot-de-passe-oublie/{TOKEN}?next=/compte/",
        log_format,
        headers=[("Cookie", "idp_session=session-secret"), ("Authorization", "Bearer bearer-secret")],
        status="302 FOUND",
        location=f"https://rp.example/cb?code={TOKEN}&state=xyz",
    )
    assert TOKEN not in line and "session-secret" not in line and "bearer-secret" not in line
    assert line.strip().split("|") == [
        "GET /mot-de-passe-oublie/***?next=/compte/ HTTP/1.1",
        "/mot-de-passe-oublie/***",
        "next=/compte/",
        "https://teleservices.example/activation/***",
        "/mot-de-passe-oublie/***?next=/compte/",
        "/mot-de-passe-oublie/***",
        "***",
        "https://rp.example/cb?code=***&state=xyz",
        "-",
    ]


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("/logout?id_token_hint=eyJhbGciOi.eyJzdWIi.sig&state=s", "/logout?id_token_hint=***&state=s"),
        ("/authorize?client_id=ent&login_hint=jean.dupont1", "/authorize?client_id=ent&login_hint=***"),
        ("/userinfo?access_token=abc", "/userinfo?access_token=***"),
        ("/mot-de-passe-oublie", "/mot-de-passe-oublie"),  # the form itself has no token
        ("/activation-en-attente", "/activation-en-attente"),
        ("/gestion/inscription/abc/def", "/gestion/inscription/***/def"),
    ],
)
def test_query_parameters_that_carry_a_token_or_a_hint_are_masked(uri, masked):
    assert mask(uri) == masked


def test_every_route_with_a_token_in_its_path_is_masked(app):
    routes = [rule.rule for rule in app.url_map.iter_rules() if "token" in rule.arguments]
    assert len(routes) >= 4
    for route in routes:
        path = re.sub(r"<(?:\w+:)?token>", TOKEN, route)
        assert TOKEN not in mask(path), route


def test_with_json_logs_gunicorn_writes_json_lines_too(tmp_path, monkeypatch):
    monkeypatch.setenv("IDP_LOG_FORMAT", "json")
    line = access_line(tmp_path, "GET", f"/activation/{TOKEN}?code=abc", response_headers=[("X-Request-Id", "req-42")])
    access = json.loads(line)
    assert access["logger"] == "gunicorn.access" and access["request_id"] == "req-42"
    assert '"GET /activation/***?code=*** HTTP/1.1" 200' in access["message"]
    assert TOKEN not in line
    error = json.loads((tmp_path / "error.log").read_text())
    assert error["message"] == "Booting worker with pid: 4242" and error["level"] == "INFO" and error["request_id"] is None


def test_with_text_logs_gunicorn_keeps_its_format(tmp_path, monkeypatch):
    monkeypatch.delenv("IDP_LOG_FORMAT", raising=False)
    line = access_line(tmp_path, "GET", "/connexion", response_headers=[("X-Request-Id", "req-42")])
    assert line.startswith("203.0.113.5 - - [") and '"GET /connexion HTTP/1.1" 200' in line
    assert "[INFO] Booting worker with pid: 4242" in (tmp_path / "error.log").read_text()
