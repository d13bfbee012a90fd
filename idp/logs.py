"""The application's log: the request id of every line, and JSON lines on request
(docs/operations.md, « Logs »).

Every request has an id: the `X-Request-Id` header the reverse proxy sends (nginx's
`$request_id`), when it is a short run of safe characters, else one made up here. It is
echoed in the response's `X-Request-Id`, and every log line written while the request is
served carries it, the audit's lines included, so that a family's complaint, the proxy's
access log and the provider's log meet on one value.

With `LOG_FORMAT=json`, the `idp` logger (and the loggers under it: `idp.audit`,
`idp.throttle`, `idp.keys`…) writes one JSON object per line to standard error: `time`
(UTC, ISO 8601), `level`, `logger`, `message`, `request_id` (null outside a request), and
`exception` when there is one. gunicorn's own lines (its error log, its access log) take
the same form through its logger class (idp/access_log.py).
"""

import json
import logging
import re
import secrets
import sys
from datetime import UTC, datetime

from flask import g, has_request_context, request
from flask.logging import default_handler

HEADER = "X-Request-Id"
# What an id from the proxy may be: letters, digits and . _ : - , 1 to 64 of them (a UUID,
# nginx's 32 hexadecimal digits). Anything else is replaced, never logged.
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
FORMATS = ("text", "json")


def request_id():
    """This request's id (None outside a request)."""
    if not has_request_context():
        return None
    current = g.get("request_id")
    if current is None:
        current = g.request_id = accepted_or_new(request.headers.get(HEADER))
    return current


def accepted_or_new(given):
    """The id the proxy gave, when it is safe, else a new one."""
    return given if given and ACCEPTED.fullmatch(given) else secrets.token_hex(16)


def echo_request_id(response):
    """after_request: the request's id in the response."""
    response.headers[HEADER] = request_id()
    return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (None outside a request)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class JsonHandler(logging.StreamHandler):
    def __init__(self, stream=None):
        super().__init__(stream or sys.stderr)
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestIdFilter())


def configure(app):
    """Set the `idp` logger's output as LOG_FORMAT asks; called once per application (a
    process that makes several, as the tests do, gets the last one's)."""
    log_format = app.config["LOG_FORMAT"]
    if log_format not in FORMATS:
        raise ValueError(f"IDP_LOG_FORMAT: expected one of {', '.join(FORMATS)}, got {log_format!r}")
    logger = app.logger
    ours = [handler for handler in logger.handlers if isinstance(handler, JsonHandler)]
    for handler in ours:
        logger.removeHandler(handler)
    if log_format == "json":
        if default_handler in logger.handlers:
            logger.removeHandler(default_handler)
            _replaced.add(logger.name)
        logger.addHandler(JsonHandler())
    elif logger.name in _replaced:
        _replaced.discard(logger.name)
        logger.addHandler(default_handler)
    app.after_request(echo_request_id)


# The loggers whose Flask handler a JSON handler replaced (restored by a text application).
_replaced = set()
