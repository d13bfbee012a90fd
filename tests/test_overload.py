"""Graceful overload (idp/overload.py): a saturated worker refuses new logins at once with a
French page (503, Retry-After), and goes on serving tokens, userinfo, refresh and the pages
of people already logged in. The saturated state is set by holding the worker's login slots;
no test depends on timing (bench/overload.py measures it)."""

import time

import pytest

from idp import TrustedProxies
from idp.overload import gate

from .conftest import PASSWORD
from .oidc_helpers import csrf_token

BUSY = "Trop de connexions en ce moment : réessayez dans une minute"
BUSY_EN = "Too many logins right now: try again in a minute"


def saturated(app):
    """Every login slot of this worker taken, as by logins in progress (for the block)."""
    return gate(app).all_taken()


def assert_refused(response, text=BUSY):
    assert response.status_code == 503, response.text[:300]
    assert response.headers["Retry-After"] == "60"
    assert text in response.text
    assert "fr-header" in response.text  # the design system's frame, like the other pages
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers


def test_a_new_browser_gets_the_busy_page_at_once_for_the_login_form(app, ent):
    with saturated(app) as login_gate:
        response, _ = ent.authorize()
        assert_refused(response)
        assert_refused(ent.client.get("/connexion"))
        assert login_gate.refused == 2
    response, _ = ent.authorize()
    assert response.status_code == 200 and 'name="password"' in response.text


def test_the_busy_page_is_in_english_when_asked(app, ent):
    with saturated(app):
        response, _ = ent.authorize(ui_locales="de en-GB")
        assert_refused(response, BUSY_EN)
        assert 'lang="en"' in response.text
        ent.client.get("/langue/en?next=/")  # a browser that chose English: its cookie goes through Flask
        assert_refused(ent.client.get("/connexion"), BUSY_EN)


def test_a_login_form_answer_is_refused_while_saturated_and_nothing_is_checked(app, ent, parent, audit_events):
    page, _ = ent.authorize()
    form = {"identifier": parent.identifier, "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    login_page = ent.client.get("/connexion")
    with saturated(app):
        assert_refused(ent.log_in(page, parent.identifier, PASSWORD))
        answer = ent.client.post("/connexion", data=form | {"csrf_token": csrf_token(login_page.text)})
        assert_refused(answer)
        # A browser with cookies asking for a new form is refused by the view.
        assert_refused(ent.authorize()[0])
        assert_refused(ent.client.get("/"))
    assert audit_events("login") == [] and audit_events("login_failed") == []
    # Once a slot is free, the same form's answer logs in.
    assert ent.log_in(page, parent.identifier, PASSWORD).status_code == 302


def test_tokens_userinfo_refresh_and_logged_in_pages_go_on_while_saturated(app, ent, parent):
    code, _ = ent.log_in_and_get_code(parent.identifier, PASSWORD, scope="openid profile offline_access")
    with saturated(app):
        tokens = ent.exchange(code)
        assert tokens.status_code == 200, tokens.json
        tokens = tokens.json
        userinfo = ent.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert userinfo.status_code == 200 and userinfo.json["sub"]
        refreshed = ent.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200 and refreshed.json["refresh_token"] != tokens["refresh_token"]
        assert "Gérer son compte" in ent.client.get("/compte/").text
        assert ent.client.get("/").status_code == 200
        # Single sign-on: the logged-in browser goes back to the service without a form.
        assert ent.log_in_and_get_code(parent.identifier, "never typed")[0]
        assert ent.client.get("/jwks.json").status_code == 200


def test_no_bound_when_the_setting_is_zero(settings, make_app, establishment):
    app = make_app(settings | {"OVERLOAD_LOGINS": 0})
    login_gate = gate(app)
    for _ in range(50):
        assert login_gate.enter()
    assert not login_gate.saturated()
    assert app.test_client().get("/connexion").status_code == 200


@pytest.mark.parametrize("proxies", [1, 0])
def test_a_login_page_that_waited_too_long_behind_the_proxy_is_refused(settings, make_app, proxies):
    app = make_app(settings | {"OVERLOAD_QUEUE_MS": 2000, "PROXY_COUNT": proxies})
    client = app.test_client()
    # The proxy received it three seconds ago (the header is nginx's $msec).
    old = {"X-Request-Start": f"t={time.time() - 3:.3f}"}
    answer = client.get("/connexion", headers=old)
    if proxies:
        assert_refused(answer)
    else:  # without a trusted proxy the header is anyone's: ignored
        assert answer.status_code == 200
    assert client.get("/connexion", headers={"X-Request-Start": f"t={time.time():.3f}"}).status_code == 200
    assert client.get("/connexion", headers={"X-Request-Start": "t=soon"}).status_code == 200


def test_forwarded_headers_are_read_only_from_the_proxy_addresses(settings, make_app, make_account):
    """PROXY_ADDRESSES: a request from the proxy gives the client's address; one that reaches
    the node from elsewhere keeps its own, whatever X-Forwarded-For it brings."""
    app = make_app(settings | {"PROXY_COUNT": 1, "PROXY_ADDRESSES": ["10.0.0.10", "192.0.2.0/29"]})
    make_account()
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Request-Start": f"t={time.time() - 60:.3f}"}
    for peer in ("10.0.0.10", "192.0.2.3", "198.51.100.1"):
        client = app.test_client()
        page = client.get("/connexion", environ_base={"REMOTE_ADDR": peer})
        assert page.status_code == 200  # an old X-Request-Start counts only with OVERLOAD_QUEUE_MS
        data = {"identifier": "jean.dupont1", "password": "wrong", "csrf_token": csrf_token(page.text)}
        client.post("/connexion", data=data, headers=forwarded, environ_base={"REMOTE_ADDR": peer})
    with app.app_context():
        from idp.extensions import db
        from idp.models import AuditEvent

        addresses = db.session.scalars(db.select(AuditEvent.ip).where(AuditEvent.event == "login_failed").order_by(AuditEvent.id)).all()
    assert addresses == ["203.0.113.7", "203.0.113.7", "198.51.100.1"]
    assert not TrustedProxies(None, None, ["10.0.0.10"]).trusted("not an address")


def test_password_checks_run_on_a_thread_of_lower_priority(app):
    """ARGON2_NICE: the thread that computes argon2id is nicer than the request threads."""
    import os
    import threading

    from idp.accounts.passwords import hasher

    def niceness():
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with app.app_context():
        thread, nice = hasher()._threads.submit(niceness).result()
        assert thread != threading.get_native_id()
        assert nice == min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + app.config["ARGON2_NICE"])
        assert hasher().verify(hasher().hash("Soleil-2024x"), "Soleil-2024x")
