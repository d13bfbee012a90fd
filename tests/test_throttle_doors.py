"""Throttling at the doors beyond the login: the recovery forms' budget per address, the
temporary password of « mot de passe oublié » (also across two nodes sharing Redis), the
birth date of the first connection, and the buttons that send the activation email again.
Each throttled page answers 429 with Retry-After and says in French when to come back."""

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import Account, AccountState

from .conftest import PASSWORD
from .issuing_helpers import add_pupil, issue
from .oidc_helpers import csrf_token
from .test_forgotten import NEW_PASSWORD, ask_identifiers, ask_reset, complete, field_errors, log_in, reset_message, set_account
from .test_throttle import HOME, SCHOOL, STRANGER, needs_redis
from .travel import frozen

WRONG_TEMPORARY = "AAAA-BBBB-CCCC"


def client_at(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def without_csrf(html):
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', 'name="csrf_token"', html)


def test_each_recovery_form_has_a_budget_of_20_per_address_and_hour(app, parent, audit_events):
    with frozen(at="08:45"):
        school = client_at(app, SCHOOL)
        for number in range(20):
            assert ask_reset(school, f"inconnu.{number}").status_code == 200
        unknown, known = ask_reset(school, "personne.inconnue1"), ask_reset(school, "jean.dupont1")
        for refused in (unknown, known):
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == str(15 * 60)  # the end of the hour's window
            assert field_errors(refused.text, "identifier") == ["Trop de tentatives. Réessayez dans 15 minutes."]
        # Says nothing of the identifier (the field shows what was typed, as always).
        typed = re.compile(r'(id="identifier"[^>]*value=")[^"]*"')
        assert typed.sub(r'\1"', without_csrf(unknown.text)) == typed.sub(r'\1"', without_csrf(known.text))
        assert ask_reset(client_at(app, HOME), "jean.dupont1").status_code == 200  # another address
        assert ask_identifiers(school, "jean@example.org").status_code == 200  # the other form's budget

        for number in range(19):
            ask_identifiers(school, f"parent{number}@example.org")
        refused = ask_identifiers(school, "jean@example.org")
        assert refused.status_code == 429
        assert field_errors(refused.text, "email") == ["Trop de tentatives. Réessayez dans 15 minutes."]
    assert [event.details for event in audit_events("forgotten_password_throttled")] == [{"retry_after": 900}] * 2
    assert len(audit_events("forgotten_identifier_throttled")) == 1
    # A throttled request asks nothing: only the 20 + 1 + 20 counted ones were handled.
    assert len(audit_events("password_reset_requested")) == 21
    assert len(audit_events("identifier_reminder_requested")) == 20


def test_a_guessed_temporary_password_is_slowed_while_the_parent_completes_from_home(app, parent, smtp_server, audit_events):
    with frozen() as traveller:
        home = client_at(app, HOME)
        ask_reset(home, "jean.dupont1")
        link, temporary = reset_message(smtp_server.wait_for(1)[0])
        stranger = client_at(app, STRANGER)  # who got hold of the link, not of the temporary password
        for _ in range(5):
            assert complete(stranger, link, WRONG_TEMPORARY).status_code == 400
        refused = complete(stranger, link, temporary)  # even the right one waits
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "60"
        assert field_errors(refused.text, "temporary_password") == ["Trop de tentatives. Réessayez dans 1 minute."]
        traveller.shift(60)
        assert complete(stranger, link, WRONG_TEMPORARY).status_code == 400
        assert complete(stranger, link, WRONG_TEMPORARY).headers["Retry-After"] == "120"

        assert complete(home, link, temporary).status_code == 200
        smtp_server.wait_for(2)
    assert len(audit_events("password_reset_failed")) == 6
    assert audit_events("password_reset_throttled")[0].details == {"retry_after": 60}
    assert log_in(app.test_client(), "jean.dupont1", NEW_PASSWORD).status_code == 303


@needs_redis
def test_two_nodes_sharing_redis_slow_a_temporary_password_guesser_across_both(settings, make_app, parent, smtp_server):
    node_a, node_b = make_app(settings), make_app(settings)
    with frozen() as traveller:
        ask_reset(client_at(node_a, HOME), "jean.dupont1")
        link, temporary = reset_message(smtp_server.wait_for(1)[0])
        for node in (node_a, node_b, node_a, node_b, node_a):
            assert complete(client_at(node, STRANGER), link, WRONG_TEMPORARY).status_code == 400
        for node in (node_a, node_b):
            assert complete(client_at(node, STRANGER), link, temporary).headers["Retry-After"] == "60"
        # The parent, from home, on either node: the stranger's failures are not theirs.
        assert complete(client_at(node_b, HOME), link, temporary).status_code == 200
        traveller.shift(60)
        assert log_in(client_at(node_a, HOME), "jean.dupont1", NEW_PASSWORD).status_code == 303
        smtp_server.wait_for(2)


@pytest.fixture
def letter(app, establishment):
    """The letter the school printed for Jean Dupont, legal guardian of Alice (born 14/03/2013)."""
    add_pupil(app, establishment.uai, "Alice", "Dupont", guardians=[("Jean", "Dupont", "jean@example.org")])
    (issued,) = issue(app, kind="parent")
    return issued


def first_connection(client, letter, birth_date):
    """Log in with the letter, then fill the form of the guide (the birth date as given)."""
    login = log_in(client, letter.identifier, letter.secret)
    assert urlsplit(login.location).path == "/premiere-connexion"
    page = client.get("/premiere-connexion")
    data = {
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
        "email": "jean@example.org",
        "email_confirmation": "jean@example.org",
        "birth_date": birth_date,
        "csrf_token": csrf_token(page.text),
    }
    return client.post("/premiere-connexion", data=data)


def test_the_birth_date_of_the_first_connection_is_throttled_before_the_account_is_blocked(
    settings, make_app, letter, smtp_server, audit_events
):
    settings["THROTTLE_FREE_FAILURES"] = 2
    app = make_app(settings)
    with frozen():
        stranger = client_at(app, STRANGER)  # who found the letter, but not the child's birth date
        for _ in range(2):
            assert first_connection(stranger, letter, "01/01/2013").status_code == 400
        refused = first_connection(stranger, letter, "14/03/2013")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "60"
        assert field_errors(refused.text, "birth_date") == ["Trop de tentatives. Réessayez dans 1 minute."]
        with app.app_context():
            account = db.session.get(Account, letter.id)
            assert (account.birth_date_failures, account.state) == (2, AccountState.ISSUED)  # a wait is no answer

        assert first_connection(client_at(app, HOME), letter, "14/03/2013").status_code == 303  # the parent, at home
        smtp_server.wait_for(1)
    assert audit_events("first_connection_throttled")[0].details == {"retry_after": 60}
    with app.app_context():
        account = db.session.get(Account, letter.id)
        assert (account.state, account.birth_date_failures) == (AccountState.PENDING_EMAIL, 0)


def pending_token(page):
    return re.search(r'name="resend-csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def press_resend(client):
    page = client.get("/activation-en-attente")
    return client.post("/activation-en-attente", data={"resend-csrf_token": pending_token(page), "resend-submit": "1"})


def test_the_activation_email_buttons_have_a_budget_per_address_and_per_account(settings, make_app, parent, audit_events):
    settings["THROTTLE_RECOVERY_PER_IP"] = "3 per hour"
    app = make_app(settings)
    set_account(app, "jean.dupont1", state=AccountState.PENDING_EMAIL, email_verified=False)
    with frozen(at="08:30"):
        home = client_at(app, HOME)
        assert log_in(home, "jean.dupont1", PASSWORD).status_code == 303
        for _ in range(3):
            assert press_resend(home).status_code == 303
        refused = press_resend(home)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == str(30 * 60)
        assert "Trop de tentatives. Réessayez dans 30 minutes." in refused.text
        page = home.get("/activation-en-attente")
        correct = home.post(
            "/activation-en-attente",
            data={
                "correct-email": "autre@example.org",
                "correct-email_confirmation": "autre@example.org",
                "correct-csrf_token": pending_token(page),
                "correct-submit": "1",
            },
        )
        assert correct.status_code == 429  # the same budget: each press sends an email

        elsewhere = client_at(app, SCHOOL)  # the same account from another address
        log_in(elsewhere, "jean.dupont1", PASSWORD)
        assert press_resend(elsewhere).status_code == 429
    assert len(audit_events("activation_sent")) == 3
    assert len(audit_events("activation_email_throttled")) == 3
    with app.app_context():
        assert db.session.scalar(select(Account.email).where(Account.identifier == "jean.dupont1")) == "jean@example.org"
