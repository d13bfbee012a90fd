"""idp/gunicorn_worker.py under a real gunicorn, with deploy/gunicorn.conf.py's settings: while
the worker's login slots are all taken, a new browser's login page is answered by the thread
that accepts connections, even when every thread of the pool is held; anything else waits for
a thread, and the connection goes on serving. No test depends on timing (bench/overload.py
measures it)."""

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest

from idp.gunicorn_worker import request_head

from .apache_helpers import free_port
from .test_overload import BUSY, BUSY_EN

TESTS = os.path.dirname(__file__)


@pytest.fixture
def saturated_server(app, settings, tmp_path):
    """("127.0.0.1", port) of gunicorn with tests/saturated_gunicorn.py, on the test database."""
    port = free_port()
    environment = os.environ | {
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_DATABASE_URL": settings["DATABASE_URL"],
        "IDP_KEYS_DIR": settings["KEYS_DIR"],
        "IDP_SECRET_KEY": settings["SECRET_KEY"],
        "IDP_REDIS_URL": "",
        "IDP_OVERLOAD_LOGINS": "2",
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "gunicorn", "--config", os.path.join(TESTS, "saturated_gunicorn.py"), "--bind", f"127.0.0.1:{port}"]
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(process, port, log_path)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()


def _wait_for(process, port, log_path):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn stopped:\n{log_path.read_text()[-3000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    pytest.fail(f"gunicorn did not answer:\n{log_path.read_text()[-3000:]}")


def _raw(address, data):
    connection = socket.create_connection(address, timeout=30)
    connection.sendall(data)
    return connection


def _unanswered(connection, seconds=0.5):
    """True when nothing came on `connection` within `seconds`."""
    connection.settimeout(seconds)
    try:
        connection.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    finally:
        connection.settimeout(30)
    return False


def _answer(connection):
    """Status and body of the one answer on a raw `connection` (closed by the server after it)."""
    data = b""
    with connection:
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_new_browsers_login_page_is_refused_while_every_thread_is_held(saturated_server):
    # The worker's only thread held by a request whose head has not all arrived.
    held = _raw(saturated_server, b"GET /healthz HTTP/1.1\r\nHost: idp\r\nCookie: a=b\r\n")
    # A request with cookies waits for that thread.
    waiting = _raw(saturated_server, b"GET /healthz HTTP/1.1\r\nHost: idp\r\nCookie: a=b\r\nConnection: close\r\n\r\n")
    # A browser that connects now and sends its request later.
    late = _raw(saturated_server, b"")
    assert _unanswered(waiting)

    browser = http.client.HTTPConnection(*saturated_server, timeout=30)
    browser.request("GET", "/authorize?client_id=ent&response_type=code")
    refused = browser.getresponse()
    body = refused.read().decode()
    assert refused.status == 503 and BUSY in body and "fr-header" in body
    assert refused.getheader("Retry-After") == "60"
    assert refused.getheader("Cache-Control") == "no-store"
    assert "frame-ancestors" in refused.getheader("Content-Security-Policy")
    assert int(refused.getheader("Content-Length")) == len(body.encode())
    # Answered by the accepting thread (gunicorn's own answers name it), the connection kept.
    assert refused.getheader("Server") is None
    assert refused.getheader("Connection") == "keep-alive"
    browser.request("GET", "/connexion?ui_locales=en")
    in_english = browser.getresponse()
    assert in_english.status == 503 and BUSY_EN in in_english.read().decode()
    late.sendall(b"GET /connexion HTTP/1.1\r\nHost: idp\r\nConnection: close\r\n\r\n")
    status, body = _answer(late)
    assert status == 503 and BUSY in body.decode()
    assert _unanswered(waiting)

    # The held request completes; then the one that waited is served.
    held.sendall(b"Connection: close\r\n\r\n")
    assert _answer(held)[0] == 200
    assert _answer(waiting)[0] == 200
    # With a cookie, the login page goes through the views, which refuse it too.
    browser.request("GET", "/connexion", headers={"Cookie": "idp_lang=fr"})
    by_the_view = browser.getresponse()
    assert by_the_view.status == 503 and BUSY in by_the_view.read().decode()
    assert by_the_view.getheader("Server") is not None
    # A request with a body goes to the pool too: the views answer it (here, a form without
    # its CSRF token).
    body = "identifier=jean.dupont1&password=x"
    browser.request("POST", "/connexion", body, {"Content-Type": "application/x-www-form-urlencoded"})
    answer = browser.getresponse()
    answer.read()
    assert answer.status == 400 and answer.getheader("Server") is not None
    browser.close()


def test_an_http_1_0_refusal_closes_the_connection(saturated_server):
    connection = _raw(saturated_server, b"GET /connexion HTTP/1.0\r\n\r\n")
    status, body = _answer(connection)
    assert status == 503 and BUSY in body.decode()


@pytest.mark.parametrize(
    "data",
    [
        b"GET /connexion HTTP/1.1\r\nHost: idp\r\n",  # not all arrived
        b"GET /connexion HTTP/2.0\r\nHost: idp\r\n\r\n",
        b"GET connexion HTTP/1.1\r\n\r\n",
        b"GET /connexion HTTP/1.1\r\n Host: idp\r\n\r\n",  # an obsolete line folding
        b"GET /connexion HTTP/1.1\r\nHost idp\r\n\r\n",
    ],
)
def test_a_head_not_read_at_once_is_left_to_the_pool(data):
    assert request_head(data) is None


def test_the_head_read_at_once():
    data = b"GET /authorize?a=1 HTTP/1.1\r\nHost: idp\r\ncookie: x=1\r\nCOOKIE: y=2\r\n\r\nnext"
    (method, target, version, headers), length = request_head(data)
    assert (method, target, version) == ("GET", "/authorize?a=1", "HTTP/1.1")
    assert headers == {"host": "idp", "cookie": "y=2"}
    assert data[length:] == b"next"
