"""OpenID Connect Back-Channel Logout: every ending of a session reaches the relying parties it
concerns, and only those (idp/accounts/logouts.py), with a logout token they can verify;
delivery is durable, leased and retried (idp/logout)."""

import hashlib
import json
from datetime import timedelta

import pytest

from idp.accounts.lifecycle import regenerate
from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.logout import flush
from idp.models import Account, AccountState, LogoutNotice, NoticeStatus
from idp.relying_parties.registration import register_client

from .concurrency import at_once
from .conftest import PASSWORD
from .logout_helpers import Receiver, verify_logout_token
from .oidc_helpers import RelyingParty, csrf_token
from .school_helpers import csv_file, importer
from .test_forgotten import ask_reset, complete, reset_message
from .test_self_service import change_email, change_password, link_in, post_form
from .travel import frozen, moment


@pytest.fixture
def receivers():
    made = []

    def make():
        made.append(Receiver())
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture
def rps(make_rp, receivers):
    """The ENT and a téléservice, each with a back-channel logout URI (`.rx`), sharing one
    browser (`.client`)."""
    ent_rx, canteen_rx = receivers(), receivers()
    ent = make_rp("L'Educ de Normandie", backchannel_logout_uri=ent_rx.uri, backchannel_logout_session_required=True)
    canteen = make_rp("Cantine", category="teleservice", backchannel_logout_uri=canteen_rx.uri)
    ent.rx, canteen.rx = ent_rx, canteen_rx
    return ent, canteen


def log_in_at(*rps, scope="openid profile"):
    """Log in at each relying party in their (shared) browser; the ID tokens' claims."""
    return [rp.full_login("jean.dupont1", PASSWORD, scope=scope)[1] for rp in rps]


def other_browser(app, *rps):
    """Move the relying parties to a new browser, logged in at each of them there; its sid."""
    client = app.test_client()
    for rp in rps:
        rp.client = client
    return log_in_at(*rps)[0]["sid"]


def received(app, rp, count):
    """The claims of the logout tokens `rp` received, once `count` arrived (and every
    delivery of the app is over), each verified as a relying party would."""
    tokens = rp.rx.wait_for(count)
    wait_for_jobs(app)
    tokens = rp.rx.tokens
    assert len(tokens) == count, [verify_logout_token(rp.client, token, rp) for token in tokens]
    return [verify_logout_token(rp.client, token, rp) for token in tokens]


def log_out_everywhere(client):
    page = client.get("/compte/")
    return client.post("/compte/deconnexion-partout", data={"csrf_token": csrf_token(page.text)})


def notices(app):
    with app.app_context():
        return db.session.scalars(db.select(LogoutNotice).order_by(LogoutNotice.id)).all()


def test_discovery_announces_both_logout_channels(client):
    document = client.get("/.well-known/openid-configuration").json
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert document["frontchannel_logout_supported"] is True
    assert document["frontchannel_logout_session_supported"] is True


def test_the_id_token_names_the_login_session_the_same_for_every_relying_party(app, rps, parent):
    ent, canteen = rps
    at_ent, at_canteen = log_in_at(ent, canteen)
    assert at_ent["sid"] == at_canteen["sid"]
    assert len(at_ent["sid"]) == 32
    cookie = ent.client.get_cookie("idp_session").value
    assert at_ent["sid"] not in (cookie, hashlib.sha256(cookie.encode()).hexdigest())
    assert other_browser(app, ent) != at_ent["sid"]


def test_rp_initiated_logout_tells_the_other_relying_parties_only(app, rps, parent, audit_events):
    ent, canteen = rps
    tokens, claims = ent.full_login("jean.dupont1", PASSWORD)
    log_in_at(canteen)
    response = ent.client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200

    (notice,) = received(app, canteen, 1)
    assert notice["sid"] == claims["sid"] and notice["sub"] == parent.sub and notice["aud"] == canteen.client_id
    assert received(app, ent, 0) == []
    delivered = audit_events("logout_notice_delivered")
    assert [(event.client_id, event.details["reason"]) for event in delivered] == [(canteen.client_id, "logout")]


def test_the_provider_logout_button_tells_every_relying_party_of_the_session(app, rps, parent):
    ent, canteen = rps
    (claims, _) = log_in_at(ent, canteen)
    page = ent.client.get("/compte/")
    assert ent.client.post("/deconnexion", data={"csrf_token": csrf_token(page.text)}).status_code == 200
    assert [notice["sid"] for notice in received(app, ent, 1)] == [claims["sid"]]
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [claims["sid"]]


def test_ending_one_session_tells_the_relying_parties_of_that_session_only(app, rps, parent):
    ent, canteen = rps
    phone_sid = other_browser(app, ent)  # a phone, logged in at the ENT only
    ent.client = canteen.client = app.test_client()
    (home, _) = log_in_at(ent, canteen)
    with app.app_context():
        phone = db.session.scalar(db.select(db.text("id FROM login_session WHERE sid = :sid")), {"sid": phone_sid})
    page = ent.client.get("/compte/")
    ended = ent.client.post(f"/compte/sessions/{phone}/fin", data={"csrf_token": csrf_token(page.text)})
    assert ended.status_code == 302
    assert [notice["sid"] for notice in received(app, ent, 1)] == [phone_sid]
    assert received(app, canteen, 0) == []
    assert home["sid"] != phone_sid


def test_logging_out_everywhere_tells_the_relying_parties_of_every_session(app, rps, parent):
    ent, canteen = rps
    phone_sid = other_browser(app, ent)
    ent.client = canteen.client = app.test_client()
    (home, _) = log_in_at(ent, canteen)
    response = log_out_everywhere(ent.client)
    assert "Vous êtes déconnecté" in response.text
    assert sorted(notice["sid"] for notice in received(app, ent, 2)) == sorted([home["sid"], phone_sid])
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [home["sid"]]


def test_a_password_change_tells_the_relying_parties_of_the_other_sessions(app, rps, parent):
    ent, canteen = rps
    phone_sid = other_browser(app, ent, canteen)
    ent.client = canteen.client = app.test_client()
    log_in_at(ent)
    assert change_password(ent.client).status_code in (200, 303)
    assert [notice["sid"] for notice in received(app, ent, 1)] == [phone_sid]
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [phone_sid]


def test_a_completed_password_reset_tells_the_relying_parties_of_every_session(app, rps, parent, smtp_server):
    ent, canteen = rps
    (claims, _) = log_in_at(ent, canteen)
    stranger = app.test_client()
    ask_reset(stranger, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    assert complete(stranger, link, temporary).status_code == 200
    assert [notice["sid"] for notice in received(app, ent, 1)] == [claims["sid"]]
    assert [notice["sub"] for notice in received(app, canteen, 1)] == [parent.sub]


def test_a_confirmed_email_change_tells_the_relying_parties_of_the_other_sessions(app, rps, parent, smtp_server):
    ent, canteen = rps
    phone_sid = other_browser(app, ent, canteen)
    ent.client = canteen.client = app.test_client()
    log_in_at(ent)
    assert change_email(ent.client).status_code in (200, 303)
    link = link_in(smtp_server.wait_for(1)[0])
    assert post_form(ent.client, link).status_code == 200
    assert [notice["sid"] for notice in received(app, ent, 1)] == [phone_sid]
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [phone_sid]
    assert ent.client.get("/compte/").status_code == 200  # the browser that confirmed stays


def test_withdrawing_a_service_tells_that_relying_party_for_every_session(app, rps, parent):
    ent, canteen = rps
    phone_sid = other_browser(app, ent, canteen)
    ent.client = canteen.client = app.test_client()
    (home, _) = log_in_at(ent, canteen, scope="openid offline_access")
    page = canteen.client.get("/compte/")
    response = canteen.client.post(f"/compte/services/{canteen.client_id}/retrait", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code in (302, 303)
    assert sorted(notice["sid"] for notice in received(app, canteen, 2)) == sorted([home["sid"], phone_sid])
    assert received(app, ent, 0) == []


def test_the_reply_coupon_tells_the_teleservices_only(app, rps, parent, run):
    ent, canteen = rps
    (claims, _) = log_in_at(ent, canteen)
    assert run("accounts", "refuse", "jean.dupont1").exit_code == 0
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [claims["sid"]]
    assert received(app, ent, 0) == []


def test_an_account_leaving_active_tells_every_relying_party(app, rps, parent, run):
    ent, canteen = rps
    (claims, _) = log_in_at(ent, canteen)
    with app.app_context():
        db.session.get(Account, parent.id).state = AccountState.INVALIDATED
        db.session.commit()
    assert run("sweep").exit_code == 0
    assert [notice["sid"] for notice in received(app, ent, 1)] == [claims["sid"]]
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [claims["sid"]]
    assert run("sweep").exit_code == 0  # nothing more to say
    assert len(received(app, ent, 1)) == 1


def test_a_regeneration_tells_every_relying_party(app, rps, parent):
    ent, canteen = rps
    (claims, _) = log_in_at(ent, canteen)
    with app.app_context():
        regenerate(db.session.get(Account, parent.id))
        db.session.commit()
    assert [notice["sid"] for notice in received(app, ent, 1)] == [claims["sid"]]
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [claims["sid"]]


def test_a_relying_party_without_a_back_channel_uri_gets_no_notice(app, make_rp, parent):
    plain = make_rp("Sans déconnexion")
    plain.full_login("jean.dupont1", PASSWORD)
    log_out_everywhere(plain.client)
    assert notices(app) == []


def test_a_dead_relying_party_never_delays_the_page_and_is_retried_then_given_up(app, rps, parent, run, audit_events):
    ent, canteen = rps
    ent.rx.hold.clear()  # the ENT takes its time
    canteen.rx.status = 500  # the canteen refuses
    start = moment()
    with frozen(start) as traveller:
        log_in_at(ent, canteen)
        response = log_out_everywhere(ent.client)
        # The page is there while the ENT has not answered yet.
        assert "Vous êtes déconnecté" in response.text
        assert ent.rx.tokens == []
        canteen.rx.wait_for(1)
        ent.rx.hold.set()
        received(app, ent, 1)
        wait_for_jobs(app)
        failed = [notice for notice in notices(app) if notice.status == NoticeStatus.PENDING]
        assert [(notice.attempts, notice.last_error) for notice in failed] == [(1, "Refused: HTTP 500")]
        assert failed[0].next_attempt_at == start + timedelta(seconds=30)

        traveller.shift(timedelta(minutes=1))
        flushed = json.loads(run("logout-notices", "flush", "--json").output)
        assert flushed == {"delivered": 0, "failed": 1, "waiting": 1}
        assert len(canteen.rx.tokens) == 2

        traveller.shift(timedelta(hours=25))
        assert json.loads(run("logout-notices", "flush", "--json").output)["waiting"] == 0
        listed = json.loads(run("logout-notices", "list", "--json").output)
        assert [(row["client_id"], row["status"], row["attempts"]) for row in listed] == [(canteen.client_id, "failed", 3)]
        assert [event.client_id for event in audit_events("logout_notice_given_up")] == [canteen.client_id]

        # Once the relying party is mended, an operator sends it again.
        canteen.rx.status = 204
        assert json.loads(run("logout-notices", "retry", "--json").output) == {"retried": 1}
        assert json.loads(run("logout-notices", "flush", "--json").output)["delivered"] == 1
        assert json.loads(run("logout-notices", "list", "--json").output) == []
        assert len(canteen.rx.wait_for(4)) == 4


def test_delivery_needs_https(settings, make_app, receivers, parent):
    settings["LOGOUT_ALLOW_LOOPBACK_HTTP"] = False
    plain = receivers()
    app = make_app(settings)
    with app.app_context():
        registered, secret = register_client("Service", "ent", ["http://127.0.0.1:8765/cb"], trusted=True, backchannel_logout_uri=plain.uri)
        db.session.commit()
        client_id = registered.client_id
    rp = RelyingParty(app.test_client(), client_id, secret, "client_secret_basic", "http://127.0.0.1:8765/cb", settings["ISSUER"])
    rp.full_login("jean.dupont1", PASSWORD)
    log_out_everywhere(rp.client)
    wait_for_jobs(app)
    assert plain.tokens == []
    assert [notice.last_error for notice in notices(app)] == ["Refused: https is required"]


def test_a_redirect_is_a_refusal(app, rps, parent):
    ent, canteen = rps
    ent.rx.status = 302
    ent.rx.location = canteen.rx.uri
    log_in_at(ent)
    log_out_everywhere(ent.client)
    assert len(ent.rx.wait_for(1)) == 1
    wait_for_jobs(app)
    assert canteen.rx.tokens == []
    assert [notice.last_error for notice in notices(app)] == ["Refused: HTTP 302"]


def test_two_nodes_never_deliver_one_notice_twice(postgresql, settings, make_app, rps, parent):
    ent, _canteen = rps
    settings["LOGOUT_SEND_AFTER_COMMIT"] = False
    node1, node2 = make_app(settings), make_app(settings)
    browsers = []
    for _ in range(6):
        ent.client = node1.test_client()
        browsers.append(log_in_at(ent)[0]["sid"])
    log_out_everywhere(ent.client)
    assert len(notices(node1)) == 6

    def flush_on(node):
        def run():
            with node.app_context():
                return flush()

        return run

    first, second = at_once([flush_on(node1), flush_on(node2)])
    assert first["delivered"] + second["delivered"] == 6
    tokens = ent.rx.wait_for(6)
    assert sorted(verify_logout_token(ent.client, token, ent)["sid"] for token in tokens) == sorted(browsers)
    assert all(notice.status == NoticeStatus.DELIVERED and notice.attempts == 1 for notice in notices(node1))


def test_the_logout_token_carries_what_the_specification_requires(app, rps, parent):
    ent, _canteen = rps
    (claims,) = log_in_at(ent)
    log_out_everywhere(ent.client)
    (notice,) = received(app, ent, 1)
    assert set(notice) >= {"iss", "aud", "iat", "exp", "jti", "events", "sub", "sid"}
    assert notice["sid"] == claims["sid"]


def test_an_import_where_every_child_has_left_tells_every_relying_party(app, rps, parent, establishment):
    ent, canteen = rps
    (claims, _) = log_in_at(ent, canteen)
    with app.app_context():
        child = db.session.get(Account, parent.id).children[0]
        child.school_key = "E1"
        db.session.commit()
    counts = importer(app, establishment.uai)([csv_file("E2;Martin;Paul;14/01/2013;6A;;;;")], complete=True)
    assert counts["pupils_left"] == 1
    assert [notice["sid"] for notice in received(app, ent, 1)] == [claims["sid"]]
    assert [notice["sid"] for notice in received(app, canteen, 1)] == [claims["sid"]]
    # The next import changes nothing for them and says nothing more.
    importer(app, establishment.uai)([csv_file("E2;Martin;Paul;14/01/2013;6A;;;;")], complete=True)
    assert len(received(app, ent, 1)) == 1
