"""The throttle of every credential check, and the request budgets of forms that check none
(docs/security.md, « Throttling »). Every door calls one of these functions:

    wait = throttle.attempt("login", identifier, ip)     # seconds to wait, or 0: check now
    throttle.succeeded("login", identifier, ip)          # the right secret: forget the pair
    wait = throttle.request_budget("recovery", ip)       # counts one request; 0 = go
    wait = throttle.request_budget("resend", ip, ident)  # the same, also per identifier
    if throttle.budget_spent("password_reset_email", account_id): ...  # emails one account receives

`attempt` decides and counts in one atomic step: when it answers 0, the check about to be
made already counts as a failure, and only `succeeded` takes it back. Twenty requests sent
at once therefore get exactly as many checks as a pair is allowed, never one more: the
decision uses the count that its own increment produced, not a count read earlier.

- An (identifier, address) pair has `THROTTLE_FREE_FAILURES` free failures; after them, each
  failure makes the pair wait `THROTTLE_BASE_DELAY` seconds, doubling at every further failure
  up to `THROTTLE_MAX_DELAY`. A stranger hammering an identifier slows only himself: the parent
  at home is another pair.
- Past `THROTTLE_PER_IDENTIFIER` failures of one identifier from every address, its pairs lose
  their free failures: each address waits from its first failure on, which slows a guess
  spread over many addresses, while an address that has not failed (the parent's) still gets
  its try.
- Past `THROTTLE_PER_IP` failures from one address, whatever the identifiers, its checks wait
  for the end of the window: high enough for a school's families behind one address.
- Identifiers are counted as the door normalised them, whether they exist or not, so that
  throttling tells nothing about them; only failures count, never successes.

Counters live in Redis when `IDP_REDIS_URL` is set (one round trip per check, shared by every
node), in process memory otherwise. When Redis fails, logins go on with process counters:
one error in the log for the outage, Redis tried again every `THROTTLE_REDIS_RETRY` seconds.
Time is `idp.clock`'s (tests move it), in whole seconds; IPv6 addresses count per /64.
"""

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from math import ceil

from flask import current_app, make_response
from flask_babel import format_date, ngettext, to_user_timezone
from flask_babel import gettext as _

from .. import clock
from .counters import Counters

_RATE = re.compile(r"(\d+) per (?:(\d+) )?(second|minute|hour|day)s?")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    """`amount` events per window of `seconds`, written "50 per 15 minutes" in settings."""

    amount: int
    seconds: int

    @classmethod
    def setting(cls, config, name):
        match = _RATE.fullmatch(" ".join(str(config[name]).split()))
        if match is None:
            raise ValueError(f"IDP_{name}: expected e.g. '50 per 15 minutes', got {config[name]!r}")
        amount, count, unit = match.groups()
        return cls(int(amount), int(count or 1) * _UNITS[unit])

    def window(self, now):
        """The index of the window holding `now`, and the seconds left in it."""
        return now // self.seconds, self.seconds - now % self.seconds


@dataclass(frozen=True)
class Policy:
    free_failures: int
    base_delay: int
    max_delay: int
    forget_after: int
    per_identifier: Rate
    per_ip: Rate
    requests_per_ip: Rate
    recovery_emails: Rate

    @classmethod
    def from_config(cls, config):
        return cls(
            free_failures=max(config["THROTTLE_FREE_FAILURES"], 1),
            base_delay=config["THROTTLE_BASE_DELAY"],
            max_delay=config["THROTTLE_MAX_DELAY"],
            forget_after=config["THROTTLE_FORGET_AFTER"],
            per_identifier=Rate.setting(config, "THROTTLE_PER_IDENTIFIER"),
            per_ip=Rate.setting(config, "THROTTLE_PER_IP"),
            requests_per_ip=Rate.setting(config, "THROTTLE_RECOVERY_PER_IP"),
            recovery_emails=Rate.setting(config, "RECOVERY_EMAILS"),
        )

    def pair_delay(self, failures, identifier_under_attack):
        """Seconds a pair waits after its last failure (mirrored by `counters._ATTEMPT`)."""
        free = 1 if identifier_under_attack else self.free_failures
        if failures < free:
            return 0
        return min(self.base_delay << min(failures - free, 32), self.max_delay)

    def wait(self, now, failures, last, identifier_count, ip_count):
        """Seconds before a pair with `failures` (the last at `last`) may be checked, given
        the counts of its identifier's and address's windows (mirrored by `counters._ATTEMPT`)."""
        wait = 0
        if failures and now - last <= self.forget_after:
            wait = max(last + self.pair_delay(failures, identifier_count >= self.per_identifier.amount) - now, 0)
        if ip_count >= self.per_ip.amount:
            wait = max(wait, self.per_ip.window(now)[1])
        return wait


def _address(ip):
    """The address as counted: IPv6 per /64, since one subscriber holds a whole /64."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)


def _digest(*parts):
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


class Throttle:
    def init_app(self, app):
        config = app.config
        app.extensions["idp.throttle"] = Counters(
            Policy.from_config(config),
            f"{config['THROTTLE_KEY_PREFIX']}:throttle",
            config["REDIS_URL"],
            config["THROTTLE_REDIS_RETRY"],
        )

    def attempt(self, action, identifier, ip):
        """Seconds before `identifier` may be checked from `ip`; 0: check it now, and this
        check is already counted as a failure of the pair, of the identifier and of the
        address (`succeeded` takes it back)."""
        counters = self._counters()
        now = clock.timestamp()
        keys = self._keys(counters, action, identifier, ip, now)
        return counters.run(lambda store: store.attempt(*keys, now))

    def succeeded(self, action, identifier, ip):
        """The right secret: the pair's failures are forgotten, and this check no longer
        counts against the identifier or the address."""
        counters = self._counters()
        keys = self._keys(counters, action, identifier, ip, clock.timestamp())
        counters.run(lambda store: store.succeed(*keys))

    def request_budget(self, action, ip, identifier=None):
        """Counts one request of `action` from `ip` (and, when given, for `identifier`, whatever
        the address): seconds to wait when either is over its budget, else 0."""
        counters = self._counters()
        budget = counters.policy.requests_per_ip
        now = clock.timestamp()
        stems = [f"{action}:requests:{_address(ip)}"]
        if identifier is not None:
            stems.append(f"{action}:requests-of:{_digest(identifier)}")
        counts = [self._count(counters, stem, budget, now) for stem in stems]
        return budget.window(now)[1] if max(counts) > budget.amount else 0

    def budget_spent(self, action, key):
        """Counts one email of `action` to `key` (an account, an address) against
        `RECOVERY_EMAILS`: True when this one goes past it (whoever asks, from any address)."""
        counters = self._counters()
        budget = counters.policy.recovery_emails
        return self._count(counters, f"{action}:budget:{_digest(key)}", budget, clock.timestamp()) > budget.amount

    @staticmethod
    def _count(counters, stem, rate, now):
        """One more in the window of `rate` that holds `now`, for the counter `stem`: the count."""
        key = f"{counters.prefix}:{stem}:{rate.window(now)[0]}"
        return counters.run(lambda store: store.count(key, now, rate.seconds))

    @staticmethod
    def _keys(counters, action, identifier, ip, now):
        """The keys of the pair, of the identifier's window and of the address's window."""
        address = _address(ip)
        base = f"{counters.prefix}:{action}"
        return (
            f"{base}:pair:{_digest(identifier, address)}",
            f"{base}:identifier:{_digest(identifier)}:{counters.policy.per_identifier.window(now)[0]}",
            f"{base}:ip:{address}:{counters.policy.per_ip.window(now)[0]}",
        )

    @staticmethod
    def _counters():
        return current_app.extensions["idp.throttle"]


throttle = Throttle()


def retry_message(seconds):
    """When to try again, in words a parent understands: "dans 2 minutes", "à 10 h 42"."""
    minutes = ceil(seconds / 60)
    if minutes < 60:
        return ngettext(
            "Trop de tentatives. Réessayez dans %(num)d minute.",
            "Trop de tentatives. Réessayez dans %(num)d minutes.",
            minutes,
        )
    ready = clock.timestamp() + seconds
    moment = to_user_timezone(datetime.fromtimestamp(ceil(ready / 60) * 60, UTC))  # the next whole minute
    if moment.date() == to_user_timezone(clock.now()).date():
        return _("Trop de tentatives. Réessayez à %(hour)d h %(minute)02d.", hour=moment.hour, minute=moment.minute)
    return _(
        "Trop de tentatives. Réessayez le %(date)s à %(hour)d h %(minute)02d.",
        date=format_date(moment, "EEEE d MMMM"),
        hour=moment.hour,
        minute=moment.minute,
    )


def too_many_attempts(response, seconds):
    """`response` as a 429 whose Retry-After says when to come back (pages and protocol alike)."""
    response = make_response(response)
    response.status_code = 429
    response.headers["Retry-After"] = str(ceil(seconds))
    return response
