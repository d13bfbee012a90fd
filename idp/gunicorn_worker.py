"""gunicorn's threaded worker (gthread), refusing new browsers' login pages as soon as their
request arrives while the worker is saturated (idp/overload.py; docs/operations.md, « Overload »).

gthread's main thread accepts connections and waits for kept-alive ones to bring a request;
each request then waits for a free thread of the pool. Under a rush of logins the pool's
threads are held by login form answers waiting for their password check, and a request that
would be refused at once waits for a thread first: the refusals meant to cost nothing queue
behind the work they protect. This worker looks at each request's head before it goes to the
pool, without taking it from the socket (MSG_PEEK): a GET of a login page from a browser
without cookies, while the worker's logins in progress are at their bound, is answered there,
on the main thread, with the overload page the middleware would send. Anything else, anything
it cannot read at once (TLS, HTTP/2, a request not all arrived yet), or any error goes to the
pool as before, where the middleware and the views decide.

    worker_class = "idp.gunicorn_worker.AdmittingThreadWorker"     # deploy/gunicorn.conf.py
"""

import selectors
import socket
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

# The head of a login page's request is a few hundred bytes; one that does not fit in this
# many is left to the pool.
PEEK_BYTES = 8192
# _refusal's answer for a connection whose first request has not arrived yet.
WAIT = object()


def request_head(data):
    """(method, target, version, headers) of the request head at the start of `data`, with its
    length, or None when the head has not all arrived or is not plain HTTP/1.x.
    `headers` maps lower-case names to the last value given."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in {"HTTP/1.1", "HTTP/1.0"} or not parts[1].startswith("/"):
        return None
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    return (parts[0], parts[1], parts[2], headers), end + 4


class AdmittingThreadWorker(ThreadWorker):
    """gthread, with new browsers' login pages refused before the thread pool while saturated."""

    def enqueue_req(self, conn):
        try:
            refusal = self._refusal(conn)
        except Exception:  # nothing was taken from the socket: the pool serves it
            self.log.exception("Overload admission failed; the request goes to the thread pool.")
            refusal = None
        if refusal is WAIT:
            self._wait_for_request(conn)
        elif refusal is None:
            super().enqueue_req(conn)
        else:
            self._refuse(conn, *refusal)

    def _admission(self):
        extensions = getattr(self.wsgi, "extensions", None)
        return extensions.get("idp.login_admission") if extensions else None

    def _refusal(self, conn):
        """(length of the request's head, the answer, whether the connection is kept alive)
        when the connection's request is to be refused here, WAIT when a new connection's
        request has not arrived yet, else None; nothing is read."""
        admission = self._admission()
        if admission is None or not admission.gate.saturated() or not self.alive:
            return None
        parser = conn.parser
        if self.cfg.is_ssl or getattr(conn, "is_http2", False) or (parser is not None and parser.unreader.buf.getvalue()):
            return None
        try:
            data = conn.sock.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            # A connection just accepted, its request not sent yet: it waits in the poller
            # instead of in a thread, and comes back here when it arrives.
            return WAIT if not conn.initialized and not conn.data_ready else None
        except OSError:  # the client is gone: the pool's thread sees to it
            return None
        found = request_head(data)
        if found is None:
            return None
        (method, target, version, headers), length = found
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            return None
        path, _, query = target.partition("?")
        if not admission.refuses_at_once(method, path, "cookie" in headers):
            return None
        keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        return length, admission.http_refusal(query, keep_alive), keep_alive

    def _wait_for_request(self, conn):
        """In the poller until the connection's first request arrives, as gthread does with a
        connection that brought nothing within its thread's wait."""
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def _refuse(self, conn, length, answer, keep_alive):
        """Take the request's head from the socket, send the answer, then wait for the
        connection's next request as gthread does after a kept-alive response, or close it."""
        try:
            taken = conn.sock.recv(length, socket.MSG_DONTWAIT)
            sent = conn.sock.send(answer, socket.MSG_DONTWAIT) if len(taken) == length else 0
            if keep_alive and sent == len(answer):
                conn.sock.setblocking(False)
                conn.set_timeout()
                self.keepalived_conns.append(conn)
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))
                return
        except OSError:
            pass
        # Closed when asked, when the client is gone, or when the answer could not be sent at
        # once (a client that does not read is not worth a thread).
        self.nr_conns -= 1
        conn.close()
