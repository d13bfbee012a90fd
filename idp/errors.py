"""Errors: the domain's refusal of bad input, and the error pages (JSON for protocol
endpoints, French HTML that says what to do next elsewhere)."""

import logging
import re
import traceback

import psycopg
from flask import current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from .extensions import db

log = logging.getLogger("idp")

# PostgreSQL's query_canceled: statement_timeout, or a cancel request.
QUERY_CANCELED = "57014"
# A value the database quotes after a colon in its message ('invalid input syntax for type
# date: "31/02/2012"').
QUOTED_VALUE = re.compile(r': ".*"$')


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
        if is_database_error(error):
            if is_cancelled(error):
                return statement_cancelled(error)
            log.error("unhandled database error on %s %s: %s", request.method, request.path, describe_database_error(error))
        else:
            log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if _wants_json():
            return jsonify(error="server_error"), 500
        return render_template("errors/http.html", code=500), InternalServerError.code

    def statement_cancelled(error):
        """A statement that ran past STATEMENT_TIMEOUT: PostgreSQL cancelled it, the request's
        transaction is dropped, and the person is told to try again (503), without a trace."""
        db.session.rollback()
        timeout = current_app.config["STATEMENT_TIMEOUT"]
        log.warning("statement cancelled after %s ms on %s %s: %s", timeout, request.method, request.path, describe_database_error(error))
        headers = {"Retry-After": "60"}
        if _wants_json():
            return jsonify(error="temporarily_unavailable"), ServiceUnavailable.code, headers
        return render_template("errors/http.html", code=ServiceUnavailable.code), ServiceUnavailable.code, headers


def is_database_error(error):
    """An error of the database or its driver (the fast path calls the driver directly)."""
    return isinstance(error, (DBAPIError, psycopg.Error))


def is_cancelled(error):
    """True for a statement PostgreSQL cancelled (statement_timeout)."""
    return getattr(getattr(error, "orig", error), "sqlstate", None) == QUERY_CANCELED


def describe_database_error(error):
    """What may be logged of a database error, on lines of its own: the driver's error and
    SQLSTATE, the first line of its message with any quoted value masked, the statement
    (without its parameters, which the engine never shows: hide_parameters) and where the
    code was. Never PostgreSQL's DETAIL, whose "Failing row contains (…)" repeats a row's
    values: pupils' names and birth dates."""
    original = getattr(error, "orig", None) or error
    message = QUOTED_VALUE.sub(': "…"', str(original).split("\n", 1)[0].strip())
    code = getattr(original, "sqlstate", None)
    lines = [f"{type(original).__module__}.{type(original).__name__}{f' ({code})' if code else ''}: {message}"]
    statement = getattr(error, "statement", None)
    if statement:
        lines.append(f"[SQL: {' '.join(statement.split())[:1000]}]")
    lines.extend(line.rstrip() for line in traceback.format_tb(error.__traceback__))
    return "\n".join(lines)
