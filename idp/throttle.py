"""Throttling of credential checks, per identifier and per client address (design §6).

Only failures count: a school whose families all log in from one address at 8 a.m. is
never held back for succeeding. Counters live in Redis when `IDP_REDIS_URL` is set, so
every node sees the same ones; otherwise in process memory.
"""

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class Throttle:
    def init_app(self, app):
        url = app.config["REDIS_URL"] or "memory://"
        options = {"key_prefix": app.config["THROTTLE_KEY_PREFIX"]} if url.startswith("redis") else {}
        storage = storage_from_string(url, **options)
        app.extensions["idp.throttle"] = (
            MovingWindowRateLimiter(storage),
            parse(app.config["THROTTLE_PER_IDENTIFIER"]),
            parse(app.config["THROTTLE_PER_IP"]),
        )

    @staticmethod
    def _state():
        return current_app.extensions["idp.throttle"]

    def blocked(self, action, identifier, ip):
        """True when `identifier` or `ip` has used up its failures for `action`."""
        limiter, per_identifier, per_ip = self._state()
        return not (limiter.test(per_identifier, action, "id", identifier) and limiter.test(per_ip, action, "ip", ip))

    def failed(self, action, identifier, ip):
        limiter, per_identifier, per_ip = self._state()
        limiter.hit(per_identifier, action, "id", identifier)
        limiter.hit(per_ip, action, "ip", ip)


throttle = Throttle()
