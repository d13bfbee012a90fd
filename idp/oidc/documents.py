"""Discovery and JWKS served from memory, in front of Flask.

Relying parties fetch these two documents far more often than anything else, and they
change only with the settings (discovery) or the published keys (JWKS). The first request
goes through the Flask views as usual; its status, headers and body are kept and replayed
until the document's version changes, sparing the whole request machinery.
"""

from ..logs import HEADER, accepted_or_new

PATHS = ("/.well-known/openid-configuration", "/jwks.json")
# The request id is each request's own (idp.logs), never replayed.
_REQUEST_ID = HEADER.lower()


class PublishedDocuments:
    def __init__(self, app):
        self.app = app
        self.wsgi_app = app.wsgi_app
        self.cache = {}

    def _version(self, path):
        if path == "/jwks.json":
            # Keys are published and retired with time as well as with rotations.
            return self.app.extensions["idp.keys"].version()
        return None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path not in PATHS or environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        version = self._version(path)
        cached = self.cache.get(path)
        served_id = None  # the id of the request Flask served, if it served this one
        if cached is None or cached[0] != version:
            answer = {}

            def keep(status, headers, exc_info=None):
                answer.update(status=status, headers=headers)

            body = b"".join(self.wsgi_app(environ, keep))
            if not answer["status"].startswith("200 "):
                start_response(answer["status"], answer["headers"])
                return [body]
            served_id = next((value for name, value in answer["headers"] if name.lower() == _REQUEST_ID), None)
            headers = [(name, value) for name, value in answer["headers"] if name.lower() != _REQUEST_ID]
            cached = self.cache[path] = (version, answer["status"], headers, body)
        start_response(cached[1], [*cached[2], (HEADER, served_id or accepted_or_new(environ.get("HTTP_X_REQUEST_ID")))])
        return [cached[3]]
