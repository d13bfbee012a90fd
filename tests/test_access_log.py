"""gunicorn's access log through idp.access_log.MaskingLogger: no token of a path or query,
no cookie, whatever the log format asks for; and every route with a token is covered."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from idp.access_log import MaskingLogger, mask

TOKEN = "Zr3_k-9QpL2mW8xYtBvN4cD7eF1gH5jK"


def access_line(tmp_path, method, uri, log_format=None, headers=(), status="200 OK", location=None):
    """The line gunicorn's access log writes for one request, through MaskingLogger."""
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
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
    response = SimpleNamespace(status=status, headers=[("Location", location)] if location else [], sent=120)
    request = SimpleNamespace(headers=list(headers))
    try:
        logger.access(response, request, environ, timedelta(milliseconds=12))
    finally:
        for handler in list(logger.access_log.handlers):
            handler.close()
            logger.access_log.removeHandler(handler)
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
