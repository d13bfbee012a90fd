"""gunicorn's access log without the secrets that addresses carry (docs/operations.md, « Logs »).

The emailed links and the staff enrolment link carry their token in the path
(`/activation/<token>`, `/mot-de-passe-oublie/<token>`, `/compte/adresse-mail/<token>`,
`/gestion/inscription/<token>`), and a few protocol parameters carry a token, a code or a
hint in the query string. `MaskingLogger` is gunicorn's logger with every access-log atom
(request line, path, query, referer, headers, environ) masked the same way, and the
cookies and credentials of the headers left out, whatever `--access-logformat` says:

    gunicorn --logger-class idp.access_log.MaskingLogger --access-logfile - … 'idp:create_app()'

With `IDP_LOG_FORMAT=json`, gunicorn's own lines (its error log, its access log when on)
are JSON lines too, as the application's (idp/logs.py): one format for the whole node's
output. An access line's `request_id` is the one the response echoed (`X-Request-Id`).

Nothing in the application imports this module: only gunicorn, when told to.
"""

import logging
import logging.handlers
import re
from collections.abc import Mapping

from gunicorn.glogging import Logger

from .config import load
from .logs import JsonFormatter

MASK = "***"
# The paths whose segment after these prefixes is a secret (a test checks every route of
# the application with a <token> is among them).
TOKEN_PATH = re.compile(r"(/(?:activation|mot-de-passe-oublie|compte/adresse-mail|gestion/inscription)/)[^/?#\s\"]+")
# Query parameters (and form-encoded values) that carry a token, a code or a person's hint.
SECRET_PARAMETER = re.compile(
    r"((?:^|[?&;])(?:code|token|access_token|refresh_token|id_token_hint|login_hint|logout_hint)=)[^&;#\s\"]*",
    re.IGNORECASE,
)
# Header atoms left out altogether: session cookies and credentials.
SECRET_HEADERS = {"{cookie}i", "{authorization}i", "{proxy-authorization}i", "{set-cookie}o", "{http_cookie}e", "{http_authorization}e"}


def mask(text):
    """`text` (a path, a request line, a URL) with the tokens of its path and query masked."""
    text = TOKEN_PATH.sub(rf"\g<1>{MASK}", text)
    return SECRET_PARAMETER.sub(rf"\g<1>{MASK}", text)


class AccessRequestId(logging.Filter):
    """The request id of an access line: the response's X-Request-Id (an atom of the line)."""

    def filter(self, record):
        atoms = record.args if isinstance(record.args, Mapping) else {}
        record.request_id = atoms.get("{x-request-id}o")
        return True


class MaskingLogger(Logger):
    """gunicorn's logger whose access log carries no token of a path or query, and whose
    lines are JSON when IDP_LOG_FORMAT says so."""

    def setup(self, cfg):
        super().setup(cfg)
        if load()["LOG_FORMAT"] != "json":
            return
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False) and not isinstance(handler, logging.handlers.SysLogHandler):
                    handler.setFormatter(JsonFormatter())
                    if log is self.access_log:
                        handler.addFilter(AccessRequestId())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if name in SECRET_HEADERS:
                atoms[name] = MASK
            elif isinstance(value, str):
                atoms[name] = mask(value)
        return atoms
