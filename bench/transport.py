"""How the benchmark talks HTTP: a keep-alive connection, or the Flask test client.

Both answer `send(method, path, body, headers)` with a `Reply`, so that the scenarios run
unchanged against gunicorn (measurement) and in-process (profiling).
"""

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    location: str | None
    set_cookies: list[str]
    body: bytes


class KeepAliveTransport:
    """One persistent HTTP/1.1 connection (reopened by http.client when the server closes it)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def send(self, method, path, body=None, headers=None):
        self.connection.request(method, path, body, headers or {})
        response = self.connection.getresponse()
        content = response.read()
        return Reply(response.status, response.getheader("Location"), response.msg.get_all("Set-Cookie") or [], content)

    def reconnect(self):
        self.connection.close()
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)


class TestClientTransport:
    """The Flask test client, without its own cookie jar (the scenarios keep theirs)."""

    def __init__(self, app):
        self.client = app.test_client(use_cookies=False)

    def send(self, method, path, body=None, headers=None):
        response = self.client.open(path, method=method, data=body, headers=headers or {})
        return Reply(response.status_code, response.headers.get("Location"), response.headers.getlist("Set-Cookie"), response.data)

    def reconnect(self):
        pass


class Cookies:
    """A browser's cookie jar, for one host: enough for the provider's session cookies."""

    def __init__(self):
        self.values = {}

    def send(self, transport, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.values:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.values.items())
        reply = transport.send(method, path, body, headers)
        for line in reply.set_cookies:
            pair, _, attributes = line.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.values.pop(name, None)
            else:
                self.values[name] = value
        return reply


def local_path(location):
    """The path and query of a redirect to the provider itself."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
