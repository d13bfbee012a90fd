"""Discovery and JWKS served from memory, in front of Flask.

Relying parties fetch these two documents far more often than anything else, and they
change only with the settings (discovery) or the published keys (JWKS). The first request
goes through the Flask views as usual; its status, headers and body are kept and replayed
until the document's version changes, sparing the whole request machinery.
"""

PATHS = ("/.well-known/openid-configuration", "/jwks.json")


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
        if cached is None or cached[0] != version:
            answer = {}

            def keep(status, headers, exc_info=None):
                answer.update(status=status, headers=headers)

            body = b"".join(self.wsgi_app(environ, keep))
            if not answer["status"].startswith("200 "):
                start_response(answer["status"], answer["headers"])
                return [body]
            cached = self.cache[path] = (version, answer["status"], answer["headers"], body)
        start_response(cached[1], list(cached[2]))
        return [cached[3]]
