"""The purge of expired codes, tokens and login sessions: what goes, what stays, and two
purges at once."""

import json
import secrets
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from idp.extensions import db
from idp.models import AuditEvent, AuthorizationCode, Consent, LoginSession, Token
from idp.oidc.purge import purge_expired

from .conftest import PASSWORD
from .oidc_helpers import query_of
from .test_consent import answer, consent_page
from .travel import frozen, moment


def counts(app):
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (AuthorizationCode, Token, LoginSession, Consent, AuditEvent)
        }


@pytest.fixture
def start():
    """The moment of the history: now, the purges come later."""
    return moment()


@pytest.fixture
def history(app, ent, make_rp, parent, start):
    """At `start`, through the real routes: a login (one session) giving an access token
    alone, then an offline token refreshed once, a code never exchanged, and consents to
    two relying parties not marked trusted. Returns the refresh tokens."""
    with frozen(start):
        ent.full_login("jean.dupont1", PASSWORD, scope="openid")
        offline, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
        refreshed = ent.refresh(offline["refresh_token"]).json
        ent.log_in_and_get_code("jean.dupont1", PASSWORD)
        for name in ("Cantine en ligne", "Bourse en ligne"):
            rp = make_rp(name, category="teleservice", trusted=False)
            rp.client = ent.client
            page, _ = consent_page(rp, scope="openid profile")
            assert "code" in query_of(answer(rp, page, "allow").location)
    assert counts(app) | {"AuditEvent": 0} == {"AuthorizationCode": 5, "Token": 3, "LoginSession": 1, "Consent": 2, "AuditEvent": 0}
    return {"spent": offline["refresh_token"], "live": refreshed["refresh_token"]}


def test_purge_deletes_only_what_can_serve_no_one(app, ent, history, start):
    audit_rows = counts(app)["AuditEvent"]
    with frozen(start + timedelta(minutes=30)), app.app_context():
        # Codes expired a minute after the start, but stay an hour more for replay detection.
        assert purge_expired() == {"codes": 0, "tokens": 0, "sessions": 0, "staff_sessions": 0, "links": 0, "audit_events": 0}

    with frozen(start + timedelta(hours=2, minutes=1)):
        with app.app_context():
            assert purge_expired(batch=2) == {"codes": 5, "tokens": 1, "sessions": 0, "staff_sessions": 0, "links": 0, "audit_events": 0}
        # The refresh tokens stay: the live one refreshes, the spent one is still
        # recognised as a reuse, and revokes its family.
        assert ent.refresh(history["spent"]).json["error"] == "invalid_grant"
        assert ent.refresh(history["live"]).json["error"] == "invalid_grant"
        assert counts(app)["Token"] == 2

    with frozen(start + timedelta(hours=13, minutes=1)), app.app_context():
        assert purge_expired() == {"codes": 0, "tokens": 0, "sessions": 1, "staff_sessions": 0, "links": 0, "audit_events": 0}

    with frozen(start + timedelta(days=30, hours=1, minutes=1)), app.app_context():
        assert purge_expired() == {"codes": 0, "tokens": 2, "sessions": 0, "staff_sessions": 0, "links": 0, "audit_events": 0}
        assert purge_expired() == {"codes": 0, "tokens": 0, "sessions": 0, "staff_sessions": 0, "links": 0, "audit_events": 0}
    # Consents are never purged; the audit log is kept AUDIT_RETENTION_DAYS (365).
    assert counts(app) == {"AuthorizationCode": 0, "Token": 0, "LoginSession": 0, "Consent": 2, "AuditEvent": audit_rows + 1}


def test_live_refresh_token_survives_the_purge(app, ent, history, start):
    with frozen(start + timedelta(days=29)):
        with app.app_context():
            assert purge_expired() == {"codes": 5, "tokens": 1, "sessions": 1, "staff_sessions": 0, "links": 0, "audit_events": 0}
        response = ent.refresh(history["live"])
        assert response.status_code == 200, response.json


def test_consents_go_with_their_relying_party_not_with_the_purge(app, history, start):
    with app.app_context():
        removed = db.session.scalar(select(Consent).limit(1)).client.client_id
    result = app.test_cli_runner().invoke(args=["client", "remove", removed, "--yes"])
    assert result.exit_code == 0, result.output
    with frozen(start + timedelta(days=364)):  # within the audit's year
        result = app.test_cli_runner().invoke(args=["purge", "--json"])
    # Its code went with it too.
    assert json.loads(result.output) == {"codes": 4, "tokens": 3, "sessions": 1, "staff_sessions": 0, "links": 0, "audit_events": 0}
    assert counts(app)["Consent"] == 1


def test_purge_command_prints_the_counts(app, history, start):
    with frozen(start + timedelta(hours=2, minutes=1)):
        output = app.test_cli_runner().invoke(args=["purge"]).output
    assert output.splitlines() == [
        "Codes d'autorisation supprimés : 5",
        "Jetons supprimés : 1",
        "Sessions de connexion supprimées : 0",
        "Sessions du personnel supprimées : 0",
        "Liens envoyés par courriel supprimés : 0",
        "Événements d'audit supprimés : 0",
    ]


def _expired_rows(app, account_id, client_pk, how_many, start):
    """Rows already expired, inserted in bulk (the routes would take minutes)."""
    long_ago = start - timedelta(days=60)
    with app.app_context():
        sessions = [
            {"token_hash": secrets.token_hex(32), "account_id": account_id,
             "created_at": long_ago, "last_seen_at": long_ago, "expires_at": long_ago}
            for _ in range(how_many)
        ]  # fmt: skip
        db.session.execute(insert(LoginSession), sessions)
        codes = [
            {"code_hash": secrets.token_hex(32), "client_pk": client_pk, "account_id": account_id, "scope": "openid",
             "nonce": secrets.token_hex(8), "auth_time": long_ago, "created_at": long_ago, "expires_at": long_ago}
            for _ in range(how_many)
        ]  # fmt: skip
        db.session.execute(insert(AuthorizationCode), codes)
        tokens = [
            {"client_pk": client_pk, "account_id": account_id, "family": secrets.token_hex(16), "access_token_hash": secrets.token_hex(32),
             "refresh_token_hash": secrets.token_hex(32) if index % 2 else None, "scope": "openid", "issued_at": long_ago,
             "access_expires_at": long_ago, "refresh_expires_at": long_ago if index % 2 else None}
            for index in range(how_many)
        ]  # fmt: skip
        db.session.execute(insert(Token), tokens)
        db.session.commit()


def test_two_purges_at_once_neither_fail_nor_count_twice(app, ent, parent, history, start):
    with app.app_context():
        client_pk = db.session.scalar(select(Token.client_pk).limit(1))
    _expired_rows(app, parent.id, client_pk, 95, start)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def purge():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(purge_expired(batch=10))
        except Exception as error:  # reported below, with the other thread's result
            errors.append(error)

    with frozen(start + timedelta(hours=2, minutes=1)):
        threads = [threading.Thread(target=purge) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    total = {kind: sum(result[kind] for result in results) for kind in ("codes", "tokens", "sessions")}
    assert total == {"codes": 100, "tokens": 96, "sessions": 95}
    assert counts(app) | {"AuditEvent": 0} == {"AuthorizationCode": 0, "Token": 2, "LoginSession": 1, "Consent": 2, "AuditEvent": 0}
