"""The deployment files of deploy/ agree with the provider: the limits nginx applies, the
JWKS cache against the keys' publication ahead, gunicorn's threads against the overload
guard; nginx itself accepts its configuration (when installed)."""

import importlib
import os
import re
import runpy
import shutil
import subprocess
import sys

import pytest

from idp.config import ROOT, SETTINGS
from idp.inputs import MAX_CONTENT_LENGTH
from idp.oidc.keys import JWKS_MAX_AGE, PUBLISH_AHEAD, REFRESH_INTERVAL
from idp.overload import ANSWER_ROOM
from idp.staff.establishments import import_max_content_length

DEPLOY = ROOT / "deploy"
NGINX = (DEPLOY / "nginx" / "idp.conf").read_text()
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}


def location(path):
    match = re.search(r"location " + re.escape(path) + r" \{(.*?)\n    \}", NGINX, re.DOTALL)
    assert match, path
    return match.group(1)


def test_nginx_body_limits_are_the_providers():
    assert f"client_max_body_size {MAX_CONTENT_LENGTH // 1024}k;" in NGINX
    imports = location("~ ^/gestion/etablissements/[^/]+/import$")
    assert f"client_max_body_size {import_max_content_length(DEFAULTS) // 2**20}m;" in imports


def test_nginx_sets_every_forwarded_header_the_provider_reads():
    for header in ("X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme", "X-Forwarded-Host $host", 'X-Forwarded-Prefix ""'):
        assert f"proxy_set_header {header};" in NGINX
    assert 'proxy_set_header X-Request-Start "t=${msec}";' in NGINX


def test_no_relying_party_keeps_a_jwks_past_the_publication_of_a_new_key():
    jwks = location("= /jwks.json")
    kept = int(re.search(r"proxy_cache_valid 200 (\d+)s;", jwks).group(1))
    told = int(re.search(r'Cache-Control "public, max-age=(\d+)"', jwks).group(1))
    assert told <= JWKS_MAX_AGE
    assert REFRESH_INTERVAL + kept + told < PUBLISH_AHEAD.total_seconds()
    assert "proxy_ignore_headers Cache-Control Expires;" in jwks


def test_gunicorn_threads_outnumber_the_logins_a_worker_admits():
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["worker_class"] == "idp.gunicorn_worker.AdmittingThreadWorker"
    assert config["wsgi_app"] == "idp:create_app()"
    assert config["logger_class"] == "idp.access_log.MaskingLogger"
    assert config["threads"] >= 2 * ANSWER_ROOM * DEFAULTS["OVERLOAD_LOGINS"]
    assert config["keepalive"] > int(re.search(r"keepalive_timeout (\d+)s;", NGINX).group(1))
    assert callable(config["child_exit"])


def test_units_run_the_commands_of_the_provider():
    units = DEPLOY / "systemd"
    assert "gunicorn --config /etc/idp/gunicorn.conf.py --bind ${NODE_ADDRESS}:%i" in (units / "idp-web@.service").read_text()
    assert "ExecStart=/srv/idp/venv/bin/idp mail worker" in (units / "idp-mail.service").read_text()
    assert "ExecStart=/srv/idp/venv/bin/idp logout-notices worker" in (units / "idp-logout-notices.service").read_text()
    for job in ("sweep", "purge"):
        assert f"ExecStart=/srv/idp/venv/bin/idp {job}\n" in (units / f"idp-{job}.service").read_text()
        assert "OnCalendar=" in (units / f"idp-{job}.timer").read_text()


NGINX_BINARY = shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if os.path.exists(path)), None)


@pytest.mark.skipif(NGINX_BINARY is None or shutil.which("openssl") is None, reason="nginx or openssl is not installed")
def test_nginx_accepts_the_configuration(tmp_path, monkeypatch):
    """deploy/nginx/idp.conf as bench/two_nodes.py runs it on loopback: `nginx -t` passes."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.setenv("IDP_BENCH_DATABASE", "unused")
    loaded = set(sys.modules)
    try:
        two_nodes = importlib.import_module("two_nodes")
        key, cert = two_nodes.certificate(tmp_path)
        configuration = two_nodes.nginx_configuration(tmp_path, key, cert, 18443, 18480, [18481, 18482])
    finally:
        for name in set(sys.modules) - loaded:  # the bench's modules have plain names (database, scenarios…)
            del sys.modules[name]
    checked = subprocess.run([NGINX_BINARY, "-p", str(tmp_path), "-c", str(configuration), "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
