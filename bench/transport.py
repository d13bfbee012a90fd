"""How the benchmark talks HTTP: a keep-alive connection, or the Flask test client.

Both answer `send(method, path, body, headers)` with a `Reply`, so that the scenarios run
unchanged against gunicorn (measurement) and in-process (profiling).
"""

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    location: str | None
    set_cookies: list[str]
    body: bytes


class KeepAliveTransport:
    """A persistent HTTP/1.1 connection on a bare socket, renewed every `requests_per_connection`.

    A bare socket costs the client a quarter of http.client's CPU per request (no email
    header parser), which leaves more of the two cores to the server. It reads what the
    provider sends: a status line, headers, a Content-Length body.

    A handful of everlasting connections would stay with whichever gunicorn worker accepted
    them first (often one worker takes them all); renewing them now and then, as the many
    browsers and proxies of real traffic do, lets the kernel hand them to a free worker.
    """

    def __init__(self, host, port, requests_per_connection=100, tls=None, timeout=60):
        """`tls`: an ssl.SSLContext for an https server (nginx in front, bench/two_nodes.py)."""
        self.address = (host, port)
        self.tls, self.timeout = tls, timeout
        self.host_header = f"Host: {host}:{port}\r\n"
        self.requests_per_connection = requests_per_connection
        self.socket = None
        self.sent = 0
        self.buffer = b""

    def send(self, method, path, body=None, headers=None):
        if self.socket is None or self.sent == self.requests_per_connection:
            self.reconnect()
            self.socket = socket.create_connection(self.address, timeout=self.timeout)
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                self.socket = self.tls.wrap_socket(self.socket, server_hostname=self.address[0])
        self.sent += 1
        payload = body.encode() if body else b""
        lines = [f"{method} {path} HTTP/1.1\r\n", self.host_header]
        lines += [f"{name}: {value}\r\n" for name, value in (headers or {}).items()]
        if payload:
            lines.append(f"Content-Length: {len(payload)}\r\n")
        self.socket.sendall("".join(lines).encode() + b"\r\n" + payload)
        return self._read_reply()

    def _read_reply(self):
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        location, cookies, length, closing = None, [], 0, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "location":
                location = value
            elif name == "set-cookie":
                cookies.append(value)
            elif name == "connection":
                closing = value.lower() == "close"
            elif name == "transfer-encoding":
                raise ConnectionError(f"unexpected Transfer-Encoding: {value}")
        body = self._read_exactly(length)
        if closing:
            self.reconnect()
        return Reply(int(status_line.split(" ", 2)[1]), location, cookies, body)

    def _receive(self):
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _read_until(self, marker):
        while (end := self.buffer.find(marker)) < 0:
            self._receive()
        found, self.buffer = self.buffer[:end], self.buffer[end + len(marker) :]
        return found

    def _read_exactly(self, length):
        while len(self.buffer) < length:
            self._receive()
        found, self.buffer = self.buffer[:length], self.buffer[length:]
        return found

    def reconnect(self):
        """Drop the connection; the next request opens a new one."""
        if self.socket is not None:
            self.socket.close()
        self.socket, self.sent, self.buffer = None, 0, b""


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
