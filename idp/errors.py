"""Errors: the domain's refusal of bad input, and the error pages (JSON for protocol
endpoints, French HTML that says what to do next elsewhere)."""

import logging

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db

log = logging.getLogger("idp")


class InvalidInput(ValueError):
    """Input that a domain rule refuses, with a French message fit to show as is; the caller
    rolls back, so nothing is changed."""


PROTOCOL_PATHS = ("/token", "/userinfo", "/revoke", "/introspect", "/jwks.json", "/.well-known/")


def _wants_json():
    return request.path.startswith(PROTOCOL_PATHS)


def init_app(app):
    # A view that raises drops what it wrote (idp.transactions): an HTTP error it aborts
    # with, as an unexpected error.
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        db.session.rollback()
        return render_template("errors/csrf.html"), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        db.session.rollback()
        if _wants_json():
            return jsonify(error="invalid_request" if error.code < 500 else "server_error", error_description=error.name), error.code
        return render_template("errors/http.html", code=error.code), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error):
        # Logged with its trace for the operators; the person sees a plain page.
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if _wants_json():
            return jsonify(error="server_error"), 500
        return render_template("errors/http.html", code=500), InternalServerError.code
