"""An open-loop load of logins: new browsers arrive at a fixed rate, whatever the server
answers, as families do on the morning of the rentrée (a closed loop, where each client waits
for its answer before the next login, slows down with the server and never overloads it).

`processes` client processes share the arrivals in turns (process i takes arrivals i,
i + processes, …), each on its own keep-alive connection. An arrival is one login in a
fresh browser (the three requests of `scenarios.RelyingParty.log_in`); its outcome is kept
with its times: served (the tokens came), refused (a 503 from the overload guard, at the
form or at its answer: the time of that one request is kept), timed out (no answer within
`timeout` seconds), or failed (anything else: a reset connection, an unexpected status).
A process still busy when its next arrival is due starts it late: the lag is kept too, so
that a load generator too small for the rate shows.
"""

import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from scenarios import CSRF, FORM, LOGIN_SCOPE, RelyingParty
from transport import Cookies, KeepAliveTransport

SERVED, REFUSED, TIMED_OUT, FAILED = "served", "refused", "timed out", "failed"


@dataclass(frozen=True)
class Outcome:
    due: float  # when the arrival was due (time.time())
    lag: float  # how late the client started it, in seconds
    finished: float  # time.time() at its end
    result: str  # SERVED, REFUSED, TIMED_OUT or FAILED
    seconds: float  # the whole login for SERVED; the refused request alone for REFUSED
    detail: str = ""


class Refused(Exception):
    def __init__(self, seconds, step):
        self.seconds, self.step = seconds, step


def _timed(step, browser, transport, method, path, body=None, headers=None):
    began = time.perf_counter()
    reply = browser.send(transport, method, path, body, headers)
    seconds = time.perf_counter() - began
    if reply.status == 503:
        raise Refused(seconds, step)
    return reply


def _expect(reply, status, step):
    if reply.status != status:
        raise ValueError(f"{step}: HTTP {reply.status} where {status} was expected: {reply.body[:120]!r}")
    return reply


def log_in(rp, transport, identifier):
    """One login in a fresh browser; raises Refused on a 503 at any of its requests."""
    seed, browser = rp.seed, Cookies()
    query = {
        "response_type": "code",
        "client_id": seed.client_id,
        "redirect_uri": seed.redirect_uri,
        "scope": LOGIN_SCOPE,
        "state": "s" + os.urandom(6).hex(),
        "nonce": os.urandom(6).hex(),
    }
    authorization = "/authorize?" + urlencode(query)
    page = _expect(_timed("form", browser, transport, "GET", authorization), 200, "form")
    csrf = CSRF.search(page.body)
    if csrf is None:
        raise ValueError("the login form has no CSRF token")
    form = {"identifier": identifier, "password": seed.password, "csrf_token": csrf.group(1).decode()}
    callback = _expect(_timed("answer", browser, transport, "POST", authorization, urlencode(form), FORM), 302, "answer")
    answer = {key: values[0] for key, values in parse_qs(urlsplit(callback.location).query).items()}
    if answer.get("state") != query["state"] or "code" not in answer:
        raise ValueError(f"unexpected callback {callback.location[:120]}")
    grant = {"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": seed.redirect_uri}
    tokens = _expect(_timed("token", Cookies(), transport, "POST", "/token", urlencode(grant), rp.token_headers), 200, "token")
    if b"refresh_token" not in tokens.body:
        raise ValueError("no refresh token")


def _client(index, processes, seed, address, tls, rate, start, end, timeout, results):
    transport = KeepAliveTransport(*address, tls=tls, timeout=timeout)
    rp = RelyingParty(seed)
    identifiers = seed.identifiers[index::processes] or seed.identifiers
    outcomes = []
    number = index
    while (due := start + number / rate) < end:
        time.sleep(max(0.0, due - time.time()))
        began = time.time()
        identifier = identifiers[(number // processes) % len(identifiers)]
        clock = time.perf_counter()
        try:
            log_in(rp, transport, identifier)
            result, seconds, detail = SERVED, time.perf_counter() - clock, ""
        except Refused as refusal:
            result, seconds, detail = REFUSED, refusal.seconds, refusal.step
        except TimeoutError:
            result, seconds, detail = TIMED_OUT, time.perf_counter() - clock, "no answer"
            transport.reconnect()
        except (OSError, ValueError, KeyError) as error:
            result, seconds, detail = FAILED, time.perf_counter() - clock, f"{type(error).__name__}: {error}"[:200]
            transport.reconnect()
        outcomes.append(Outcome(due, began - due, time.time(), result, seconds, detail))
        number += processes
    results.put(outcomes)


def drive(seed, address, rate, seconds, processes, timeout=30.0, tls=None, lead=1.0, cpus=None, during=None):
    """Arrivals at `rate` logins per second for `seconds` on `address` (host, port), after
    `lead` seconds for the processes to start; returns every Outcome, oldest first.

    `cpus` pins the client processes; `during(start)` runs in this process meanwhile (the
    two-node script kills a node from there)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.time() + lead
    end = start + seconds
    workers = []
    for index in range(processes):
        worker = context.Process(
            target=_pinned, args=(cpus, index, processes, seed, address, tls, rate, start, end, timeout, results), daemon=True
        )
        worker.start()
        workers.append(worker)
    if during is not None:
        during(start)
    outcomes = []
    for _ in workers:
        outcomes += results.get(timeout=seconds + lead + timeout * 4 + 60)
    for worker in workers:
        worker.join(timeout=10)
    return sorted(outcomes, key=lambda outcome: outcome.due)


def _pinned(cpus, *arguments):
    if cpus:
        os.sched_setaffinity(0, cpus)
    _client(*arguments)


def percentile(values, share):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
