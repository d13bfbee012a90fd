"""Throttling of credential checks through the login page: delays per (identifier, address),
the looser bound per identifier, the high one per address, and Redis coming and going."""

import logging
import os
from datetime import timedelta

import pytest

from idp import create_app
from idp.throttle import Policy, throttle
from idp.throttle.counters import MemoryCounters, RedisCounters

from .conftest import PASSWORD
from .oidc_helpers import csrf_token
from .travel import french_date, frozen, in_paris, moment, paris_time

WRONG = "Wrong-pass1"
HOME = "203.0.113.5"  # the parent's own address
STRANGER = "198.51.100.9"
SCHOOL = "192.0.2.10"  # a school's shared address, many families behind it
CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there
needs_redis = pytest.mark.skipif(not os.environ.get("IDP_TEST_REDIS_URL"), reason="IDP_TEST_REDIS_URL is not set")
ENGLISH_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ENGLISH_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class Browser:
    """A browser at one address, posting the login form as a person would."""

    def __init__(self, app, address):
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address
        self.token = None

    def log_in(self, identifier, password):
        if self.token is None:
            self.token = csrf_token(self.client.get("/connexion").text)
        response = self.client.post("/connexion", data={"identifier": identifier, "password": password, "csrf_token": self.token})
        if response.status_code == 303:
            self.token = None  # a new login session, a new form token
        return response


def error_of(response):
    """The message shown under the password field."""
    messages = response.text.split('<div class="fr-messages-group" id="password-messages">')[1]
    return messages.split('<p class="fr-message fr-message--error">')[1].split("</p>")[0]


def test_a_pair_gets_five_free_failures_then_doubling_delays(app, parent, audit_events):
    with frozen() as traveller:
        stranger = Browser(app, STRANGER)
        for _ in range(5):
            assert stranger.log_in("jean.dupont1", WRONG).status_code == 200
        for delay in (60, 120, 240, 480, 960, 1920, 3600, 3600):
            refused = stranger.log_in("jean.dupont1", PASSWORD)  # even the right password waits
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == str(delay)
            traveller.shift(delay - 1)
            assert stranger.log_in("jean.dupont1", WRONG).headers["Retry-After"] == "1"
            traveller.shift(1)
            assert stranger.log_in("jean.dupont1", WRONG).status_code == 200
    throttled = audit_events("login_throttled")
    assert throttled[0].details == {"identifier": "jean.dupont1", "retry_after": 60}
    assert len(throttled) == 16


def test_the_wait_is_said_in_minutes(app, parent):
    with frozen() as traveller:
        browser = Browser(app, HOME)
        for _ in range(5):
            browser.log_in("jean.dupont1", WRONG)
        assert error_of(browser.log_in("jean.dupont1", PASSWORD)) == "Trop de tentatives. Réessayez dans 1 minute."
        traveller.shift(30)
        assert error_of(browser.log_in("jean.dupont1", PASSWORD)) == "Trop de tentatives. Réessayez dans 1 minute."
        traveller.shift(30)
        browser.log_in("jean.dupont1", WRONG)
        assert error_of(browser.log_in("jean.dupont1", PASSWORD)) == "Trop de tentatives. Réessayez dans 2 minutes."
        browser.client.get("/langue/en")
        assert error_of(browser.log_in("jean.dupont1", PASSWORD)) == "Too many attempts. Try again in 2 minutes."


def test_a_long_wait_names_the_time_of_day_in_paris(settings, make_app, parent):
    settings["THROTTLE_BASE_DELAY"] = 3600
    app = make_app(settings)
    morning = moment(paris="09:40")
    day = in_paris(morning).date()
    next_day = day + timedelta(days=1)
    with frozen(morning) as traveller:
        browser = Browser(app, HOME)
        for _ in range(5):
            browser.log_in("jean.dupont1", WRONG)
        assert error_of(browser.log_in("jean.dupont1", PASSWORD)) == "Trop de tentatives. Réessayez à 10 h 40."
        traveller.move_to(paris_time(day, "23:30"))
        night = Browser(app, SCHOOL)
        for _ in range(5):
            night.log_in("jean.dupont1", WRONG)
        tomorrow = french_date(next_day, weekday=True, year=False)  # "mardi 1 décembre"
        assert error_of(night.log_in("jean.dupont1", PASSWORD)) == f"Trop de tentatives. Réessayez le {tomorrow} à 0 h 30."
        night.client.get("/langue/en")
        tomorrow = f"{ENGLISH_DAYS[next_day.weekday()]} {next_day.day} {ENGLISH_MONTHS[next_day.month - 1]}"  # "Tuesday 1 December"
        assert error_of(night.log_in("jean.dupont1", PASSWORD)) == f"Too many attempts. Try again on {tomorrow} at 00:30."
        traveller.move_to(paris_time(next_day, "00:10"))
        late = Browser(app, STRANGER)
        for _ in range(5):
            late.log_in("jean.dupont1", WRONG)
        assert error_of(late.log_in("jean.dupont1", PASSWORD)) == "Trop de tentatives. Réessayez à 1 h 10."
        late.client.get("/langue/en")
        assert error_of(late.log_in("jean.dupont1", PASSWORD)) == "Too many attempts. Try again at 01:10."


def test_the_parent_logs_in_from_home_while_a_stranger_hammers_the_identifier(app, parent):
    with frozen() as traveller:
        stranger, home = Browser(app, STRANGER), Browser(app, HOME)
        for _ in range(40):
            stranger.log_in("jean.dupont1", WRONG)
            traveller.shift(30)
        assert stranger.log_in("jean.dupont1", PASSWORD).status_code == 429
        assert home.log_in("jean.dupont1", PASSWORD).status_code == 303
        assert stranger.log_in("jean.dupont1", PASSWORD).status_code == 429


def test_a_guess_spread_over_many_addresses_is_slowed_past_the_identifier_bound(settings, make_app, parent):
    settings["THROTTLE_PER_IDENTIFIER"] = "12 per 15 minutes"
    app = make_app(settings)
    with frozen():
        guessers = [Browser(app, f"198.51.100.{number}") for number in range(1, 4)]
        for guesser in guessers:
            for _ in range(4):  # within each address's free failures
                assert guesser.log_in("jean.dupont1", WRONG).status_code == 200
        # From now on every address waits from its first failure, the old ones at once.
        assert [guesser.log_in("jean.dupont1", WRONG).status_code for guesser in guessers] == [429] * 3
        newcomer = Browser(app, "198.51.100.4")
        assert newcomer.log_in("jean.dupont1", WRONG).status_code == 200
        assert newcomer.log_in("jean.dupont1", WRONG).headers["Retry-After"] == "60"
        # The parent's address has not failed: the first try goes through.
        assert Browser(app, HOME).log_in("jean.dupont1", PASSWORD).status_code == 303


def test_below_the_identifier_bound_each_address_keeps_its_free_failures(app, parent):
    with frozen():
        for number in range(1, 11):  # 40 failures from 10 addresses: under the default 50
            guesser = Browser(app, f"198.51.100.{number}")
            for _ in range(4):
                assert guesser.log_in("jean.dupont1", WRONG).status_code == 200


def test_a_hundred_failures_behind_a_school_address_hold_no_other_family_back(app, parent):
    with frozen():
        school = Browser(app, SCHOOL)
        for number in range(50):
            for _ in range(2):
                assert school.log_in(f"eleve.numero{number}", WRONG).status_code == 200
        assert school.log_in("jean.dupont1", PASSWORD).status_code == 303
        assert school.log_in("marie.curie1", WRONG).status_code == 200


def test_an_address_past_its_bound_waits_for_the_end_of_the_window(settings, make_app, parent):
    settings["THROTTLE_PER_IP"] = "3 per 15 minutes"
    app = make_app(settings)
    with frozen(at="08:05") as traveller:
        school = Browser(app, SCHOOL)
        for name in ("a.b1", "c.d1", "e.f1"):
            assert school.log_in(name, WRONG).status_code == 200
        refused = school.log_in("jean.dupont1", PASSWORD)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "600"  # the window ends at 8:15
        assert error_of(refused) == "Trop de tentatives. Réessayez dans 10 minutes."
        assert Browser(app, HOME).log_in("jean.dupont1", PASSWORD).status_code == 303
        traveller.shift(600)
        assert school.log_in("jean.dupont1", PASSWORD).status_code == 303


def test_an_unknown_identifier_is_throttled_exactly_like_a_known_one(app, parent):
    with frozen():
        browser = Browser(app, STRANGER)
        for identifier in ("jean.dupont1", "nobody.here1"):
            for _ in range(5):
                browser.log_in(identifier, WRONG)
        known = browser.log_in("jean.dupont1", WRONG)
        unknown = browser.log_in("nobody.here1", WRONG)
    assert known.status_code == unknown.status_code == 429
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
    assert known.text.replace('value="jean.dupont1"', 'value="?"') == unknown.text.replace('value="nobody.here1"', 'value="?"')


def test_the_right_password_forgets_the_failures_of_the_pair(app, parent):
    with frozen():
        browser = Browser(app, HOME)
        for _ in range(12):
            assert browser.log_in("jean.dupont1", PASSWORD).status_code == 303
        for _ in range(3):
            for _ in range(4):
                assert browser.log_in("jean.dupont1", WRONG).status_code == 200
            assert browser.log_in("jean.dupont1", PASSWORD).status_code == 303


def test_ipv6_addresses_count_per_64_block(app, parent):
    with frozen():
        for number in range(1, 6):
            assert Browser(app, f"2001:db8:1:2::{number}").log_in("jean.dupont1", WRONG).status_code == 200
        assert Browser(app, "2001:db8:1:2:ffff::9").log_in("jean.dupont1", PASSWORD).status_code == 429
        assert Browser(app, "2001:db8:1:3::1").log_in("jean.dupont1", PASSWORD).status_code == 303


def test_recovery_requests_have_a_budget_per_address(app):
    with frozen(at="08:45"), app.test_request_context():
        assert [throttle.request_budget("recovery", SCHOOL) for _ in range(20)] == [0] * 20
        assert throttle.request_budget("recovery", SCHOOL) == 15 * 60  # until 9:00
        assert throttle.request_budget("recovery", HOME) == 0
        assert throttle.request_budget("resend_activation", SCHOOL) == 0


def test_a_malformed_rate_setting_is_refused_at_start(settings):
    settings["THROTTLE_PER_IP"] = "lots"
    with pytest.raises(ValueError, match="IDP_THROTTLE_PER_IP"):
        create_app(settings)


def test_logins_go_on_while_redis_is_down_and_the_outage_is_logged_once(settings, make_app, parent, caplog):
    settings["REDIS_URL"] = CLOSED_REDIS
    app = make_app(settings)
    caplog.set_level(logging.ERROR, logger="idp.throttle")
    with frozen() as traveller:
        stranger, home = Browser(app, STRANGER), Browser(app, HOME)
        for _ in range(5):
            assert stranger.log_in("jean.dupont1", WRONG).status_code == 200
        assert stranger.log_in("jean.dupont1", WRONG).status_code == 429  # counted in process memory
        assert home.log_in("jean.dupont1", PASSWORD).status_code == 303
        traveller.shift(31)  # Redis is tried again, and still does not answer
        assert home.log_in("jean.dupont1", PASSWORD).status_code == 303
        assert stranger.log_in("jean.dupont1", WRONG).status_code == 429
    errors = [record for record in caplog.records if record.name == "idp.throttle" and record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "Redis" in errors[0].getMessage()


@needs_redis
def test_throttling_goes_back_to_redis_some_seconds_after_it_answers_again(settings, redis_url, make_app, parent, caplog):
    other_node = make_app({**settings, "REDIS_URL": redis_url})
    settings["REDIS_URL"] = CLOSED_REDIS
    app = make_app(settings)
    caplog.set_level(logging.INFO, logger="idp.throttle")
    with frozen() as traveller:
        for _ in range(5):
            Browser(app, STRANGER).log_in("jean.dupont1", WRONG)  # counted in process memory
        counters = app.extensions["idp.throttle"]
        counters.redis = RedisCounters(redis_url, counters.policy)  # Redis is back
        traveller.shift(10)
        assert Browser(app, STRANGER).log_in("jean.dupont1", WRONG).status_code == 429  # not tried yet: memory
        traveller.shift(21)
        assert Browser(app, STRANGER).log_in("jean.dupont1", WRONG).status_code == 200  # Redis: a fresh count
        for _ in range(4):
            assert Browser(other_node, STRANGER).log_in("jean.dupont1", WRONG).status_code == 200
        assert Browser(app, STRANGER).log_in("jean.dupont1", WRONG).status_code == 429  # shared again
    messages = [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "idp.throttle"]
    assert [level for level, _ in messages] == [logging.ERROR, logging.WARNING]
    assert "answers again" in messages[1][1]


@needs_redis
def test_two_nodes_sharing_redis_slow_a_guesser_across_both(settings, make_app, parent):
    node_a, node_b = make_app(settings), make_app(settings)
    with frozen() as traveller:
        for node in (node_a, node_b, node_a, node_b, node_a):
            assert Browser(node, STRANGER).log_in("jean.dupont1", WRONG).status_code == 200
        for node in (node_a, node_b):
            assert Browser(node, STRANGER).log_in("jean.dupont1", PASSWORD).headers["Retry-After"] == "60"
        assert Browser(node_b, HOME).log_in("jean.dupont1", PASSWORD).status_code == 303
        traveller.shift(timedelta(seconds=60))
        assert Browser(node_b, STRANGER).log_in("jean.dupont1", WRONG).status_code == 200
        assert Browser(node_a, STRANGER).log_in("jean.dupont1", PASSWORD).headers["Retry-After"] == "120"


@needs_redis
def test_redis_and_process_memory_decide_the_same_waits(settings, make_app, redis_url):
    """The Redis script mirrors `Policy.wait`: one script of attempts and successes, with time
    moving, gives the same answers from both stores."""
    app = make_app(settings | {"THROTTLE_PER_IDENTIFIER": "8 per 15 minutes", "THROTTLE_PER_IP": "30 per hour"})
    policy = Policy.from_config(app.config)
    stores = [MemoryCounters(policy), RedisCounters(redis_url, policy)]
    stores[1].client.flushdb()
    start = (moment().timestamp() // 3600 + 1) * 3600  # the start of an hour: windows start afresh
    answers = []
    for store in stores:
        seen, now = [], int(start)
        for step in range(60):
            address = f"198.51.100.{step % 7}"
            keys = (f"t:pair:{address}", f"t:identifier:{now // 900}", f"t:ip:{address}:{now // 3600}")
            wait = store.attempt(*keys, now)
            seen.append(wait)
            if step % 11 == 10 and not wait:
                store.succeed(*keys)
            now += wait if step % 3 == 0 else 7
        answers.append(seen)
    stores[1].client.close()
    assert answers[0] == answers[1]
    assert any(answers[0]) and not all(answers[0])
