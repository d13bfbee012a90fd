"""Graceful overload: when a worker process has as many logins in progress as it may take,
a new login page or login form's answer gets at once « Trop de connexions en ce moment :
réessayez dans une minute » (503, Retry-After) instead of waiting in line behind password
checks, so that the token endpoint, userinfo, refresh and the pages of people already
logged in keep being served (docs/operations.md, « Overload »).

A login in progress is a login form's answer between its admission and its outcome: the
password check (argon2id, one core's worth of CPU) running or waiting for its turn. The
bound is per worker process (`OVERLOAD_LOGINS`): with one worker per core it bounds how
long an admitted login waits. A trusted proxy may also say when it received the request
(`X-Request-Start: t=<seconds since the epoch>`, nginx's `$msec`; read only from the
proxies of PROXY_COUNT and PROXY_ADDRESSES): a login page or answer that waited longer
than `OVERLOAD_QUEUE_MS` in the queues is refused the same way.

A browser without any cookie asking for a login page is refused in front of Flask, with a
page rendered once per language: under overload, those refusals must cost next to nothing,
or they would eat the capacity they protect. Under gunicorn (idp/gunicorn_worker.py) they are
answered before the worker's thread pool, by the thread that accepts connections, so that they
do not wait for a thread behind the logins either. Other requests are refused by the views
(`refusal()`), which know whether a login form is to be shown.
"""

import threading
import time
from contextlib import contextmanager
from email.utils import formatdate
from urllib.parse import parse_qs

from flask import current_app, render_template, request
from flask_babel import force_locale

from .metrics import OVERLOAD_REFUSALS

# A form's answer is refused when this many times OVERLOAD_LOGINS are in progress.
ANSWER_ROOM = 2
RETRY_AFTER = 60  # seconds: « réessayez dans une minute »
# The login pages a new browser asks for: the form of the authorization endpoint and the login page.
LOGIN_PAGES = ("/authorize", "/connexion")


class LoginGate:
    """The logins in progress of this worker process, and the refusals it answered."""

    def __init__(self, limit):
        self.limit = limit
        self.in_progress = 0
        self.refused = 0
        self._lock = threading.Lock()

    def saturated(self):
        """True when a new login page must be refused."""
        return 0 < self.limit <= self.in_progress

    def enter(self):
        """Admit one more login in progress (a form's answer); False, and nothing counted,
        when twice the limit are in progress: a form already shown gets more room than a
        new one, so that the work of showing it is seldom lost."""
        with self._lock:
            if 0 < self.limit * ANSWER_ROOM <= self.in_progress:
                return False
            self.in_progress += 1
            return True

    def leave(self):
        with self._lock:
            self.in_progress -= 1

    @contextmanager
    def all_taken(self):
        """Every slot taken for the block, as by logins in progress, then given back: how the
        tests and the screenshots show the overload page without a rush."""
        taken = 0
        while self.enter():
            taken += 1
        try:
            yield self
        finally:
            for _ in range(taken):
                self.leave()

    def count_refusal(self, at):
        """One more refusal, of a login page or of a form's answer (`at`: "page" or "answer")."""
        with self._lock:
            self.refused += 1
        OVERLOAD_REFUSALS.labels(at=at).inc()


def gate(app=None):
    return (app or current_app).extensions["idp.login_gate"]


def waited_too_long(environ, config):
    """True when a trusted proxy says this request was received more than OVERLOAD_QUEUE_MS ago."""
    limit = config["OVERLOAD_QUEUE_MS"]
    started = environ.get("HTTP_X_REQUEST_START")
    if limit <= 0 or not started or not environ.get("idp.trusted_proxy"):
        return False
    try:
        received = float(started.removeprefix("t="))
    except ValueError:
        return False
    return (time.time() - received) * 1000 > limit


def new_browser_login_page(method, path, has_cookie):
    """True for a login page asked by a browser that brings no cookie at all: one that cannot be
    logged in, whose refusal needs nothing of Flask."""
    return method == "GET" and path in LOGIN_PAGES and not has_cookie


def refusal():
    """The overload page when a new login page must be refused now, else None."""
    if gate().saturated() or waited_too_long(request.environ, current_app.config):
        return overload_page("page")
    return None


def overload_page(at):
    """The overload page for a refused login page or form's answer (`at`: "page" or "answer")."""
    gate().count_refusal(at)
    return render_template("errors/overload.html"), 503, {"Retry-After": str(RETRY_AFTER)}


class LoginAdmission:
    """WSGI middleware: a new browser's login page refused before Flask while saturated."""

    def __init__(self, app):
        self.app = app
        self.wsgi_app = app.wsgi_app
        self.gate = LoginGate(app.config["OVERLOAD_LOGINS"])
        app.extensions["idp.login_gate"] = self.gate
        app.extensions["idp.login_admission"] = self
        self.pages = {}  # language: (headers, body)

    def __call__(self, environ, start_response):
        if new_browser_login_page(environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), "HTTP_COOKIE" in environ) and (
            self.gate.saturated() or waited_too_long(environ, self.app.config)
        ):
            self.gate.count_refusal("page")
            headers, body = self._page(self._language(environ.get("QUERY_STRING", "")))
            start_response("503 Service Unavailable", list(headers))
            return [body]
        return self.wsgi_app(environ, start_response)

    def refuses_at_once(self, method, path, has_cookie):
        """True when this request, known by its request line and whether it brings cookies,
        is refused now: the test of the server's accepting thread, which then sends
        `http_refusal`. The wait behind a proxy is not known there: the middleware checks it."""
        return self.gate.saturated() and new_browser_login_page(method, path, has_cookie)

    def http_refusal(self, query, keep_alive):
        """The whole HTTP/1.1 answer refusing a new browser's login page (its query string
        gives the language), counted as a refusal; the connection is kept alive or closed."""
        self.gate.count_refusal("page")
        headers, body = self._page(self._language(query))
        lines = ["HTTP/1.1 503 Service Unavailable"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in {"content-length", "connection", "date"}]
        lines += [
            f"Content-Length: {len(body)}",
            f"Date: {formatdate(usegmt=True)}",
            "Connection: " + ("keep-alive" if keep_alive else "close"),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _language(self, query):
        languages = self.app.config["LANGUAGES"]
        if "ui_locales" in query:
            for tag in parse_qs(query).get("ui_locales", [""])[0].split():
                if tag.split("-")[0].lower() in languages:
                    return tag.split("-")[0].lower()
        return languages[0]

    def _page(self, language):
        page = self.pages.get(language)
        if page is None:
            from .security import set_security_headers

            # Rendered as the login page would be, its language links leading back to it.
            with self.app.test_request_context("/connexion"), force_locale(language):
                html = render_template("errors/overload.html", current_locale=language)
                response = set_security_headers(self.app.make_response((html, 503, {"Retry-After": str(RETRY_AFTER)})))
            page = self.pages[language] = (response.headers.to_wsgi_list(), response.get_data())
        return page
