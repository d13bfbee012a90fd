"""Relying parties' back-channel logout endpoints for the tests: real HTTP servers on
loopback that keep what they receive, and the checks a relying party makes of a logout
token (OpenID Connect Back-Channel Logout 1.0 §2.6)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A back-channel logout URI: `tokens` are the logout tokens posted to it. It answers
    `status` (200 by default); while `hold` is cleared, it waits before answering."""

    def __init__(self):
        self.tokens = []
        self.status = 200
        self.location = None
        self.hold = threading.Event()
        self.hold.set()
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                receiver.hold.wait(30)
                with receiver.received:
                    receiver.tokens.extend(form.get("logout_token", []))
                    receiver.content_types = self.headers.get("Content-Type")
                    receiver.received.notify_all()
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count, timeout=10):
        with self.received:
            self.received.wait_for(lambda: len(self.tokens) >= count, timeout)
        return list(self.tokens)

    def close(self):
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def verify_logout_token(client, token, rp):
    """The claims of `token` after the checks a relying party `rp` makes: signature with the
    provider's JWKS (header typ logout+jwt), iss, aud, iat, exp, events, sub or sid, no nonce."""
    jwks = jwt.PyJWKSet.from_dict(client.get("/jwks.json").json)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    key = next(item for item in jwks.keys if item.key_id == header["kid"])
    claims = jwt.decode(
        token, key=key.key, algorithms=["RS256"], audience=rp.client_id, issuer=rp.issuer, options={"require": ["iat", "exp", "jti"]}
    )
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims["exp"] - claims["iat"] == 120
    assert claims.get("sub") or claims.get("sid")
    return claims
