"""The life-cycle sweep: deadlines applied set-based, idempotent, safe twice at once."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.accounts.sweep import sweep
from idp.clock import now
from idp.extensions import db
from idp.models import Account, AccountState, LoginSession, OutboxMessage, Token

from .conftest import PASSWORD

DAY = timedelta(days=1)


def _set(app, account_id, **values):
    with app.app_context():
        db.session.execute(update(Account).where(Account.id == account_id).values(**values))
        db.session.commit()


def _state(app, account_id):
    with app.app_context():
        return db.session.get(Account, account_id).state


def _run(app, as_of, dry_run=False):
    with app.app_context():
        counts = sweep(as_of=as_of, dry_run=dry_run)
        db.session.commit()
        return counts


@pytest.fixture
def accounts(app, make_account):
    """Five accounts at the edges of the deadlines, as of `as_of`, the day before now (so
    that a login in the test comes after a warning sent as of `as_of`)."""
    as_of = now().replace(microsecond=0) - DAY
    made = {}
    made["issued_late"] = make_account(given_name="Issued", family_name="Late")
    _set(app, made["issued_late"].id, state=AccountState.ISSUED, issued_at=as_of - 91 * DAY, password_hash=None)
    made["issued_in_time"] = make_account(given_name="Issued", family_name="Intime")
    _set(app, made["issued_in_time"].id, state=AccountState.ISSUED, issued_at=as_of - 89 * DAY, password_hash=None)
    made["pending_late"] = make_account(given_name="Pending", family_name="Late")
    _set(app, made["pending_late"].id, state=AccountState.PENDING_EMAIL, issued_at=as_of - 90 * DAY)
    made["unused"] = make_account(given_name="Unused", family_name="Parent", email="unused@example.org")
    _set(app, made["unused"].id, issued_at=as_of - 500 * DAY, activated_at=as_of - 400 * DAY, last_login_at=as_of - 340 * DAY)
    made["recent"] = make_account(given_name="Recent", family_name="Parent")
    _set(app, made["recent"].id, issued_at=as_of - 500 * DAY, activated_at=as_of - 400 * DAY, last_login_at=as_of - 10 * DAY)
    return as_of, made


def test_dry_run_counts_and_changes_nothing(app, accounts):
    as_of, made = accounts
    assert _run(app, as_of, dry_run=True) == {"expired": 2, "warned": 1, "invalidated": 0}
    assert _state(app, made["issued_late"].id) == AccountState.ISSUED
    with app.app_context():
        assert db.session.get(Account, made["unused"].id).inactivity_warned_at is None


def test_accounts_not_activated_in_time_expire(app, accounts):
    as_of, made = accounts
    assert _run(app, as_of)["expired"] == 2
    assert _state(app, made["issued_late"].id) == AccountState.EXPIRED
    assert _state(app, made["pending_late"].id) == AccountState.EXPIRED
    assert _state(app, made["issued_in_time"].id) == AccountState.ISSUED


def test_unused_account_is_warned_then_invalidated_a_month_later(app, accounts, smtp_server):
    as_of, made = accounts
    assert _run(app, as_of)["warned"] == 1
    smtp_server.wait_for(1)
    warning = smtp_server.messages[0]
    assert warning["To"] == "unused@example.org"
    assert "unused.parent1" in warning.get_body(("plain",)).get_content()
    assert _state(app, made["unused"].id) == AccountState.ACTIVE
    # Warned once only.
    assert _run(app, as_of + DAY)["warned"] == 0
    # 365 days after the last use, and 30 after the warning: invalidated.
    assert _run(app, as_of + 29 * DAY)["invalidated"] == 0
    assert _run(app, as_of + 30 * DAY)["invalidated"] == 1
    assert _state(app, made["unused"].id) == AccountState.INVALIDATED
    assert _state(app, made["recent"].id) == AccountState.ACTIVE


def test_a_login_after_the_warning_keeps_the_account(app, accounts, ent):
    as_of, made = accounts
    _run(app, as_of)
    ent.full_login("unused.parent1", PASSWORD)
    with app.app_context():
        assert db.session.get(Account, made["unused"].id).inactivity_warned_at is None
    counts = _run(app, as_of + 40 * DAY)
    assert (counts["warned"], counts["invalidated"]) == (0, 0)
    assert _state(app, made["unused"].id) == AccountState.ACTIVE


def test_sweep_is_idempotent(app, accounts):
    as_of, _ = accounts
    first = _run(app, as_of)
    assert first == {"expired": 2, "warned": 1, "invalidated": 0}
    assert _run(app, as_of) == {"expired": 0, "warned": 0, "invalidated": 0}


def test_sweep_revokes_the_sessions_and_tokens_of_the_accounts_it_ends(app, make_account, ent):
    victim = make_account(given_name="Paul", family_name="Ended")
    tokens, _ = ent.full_login("paul.ended1", PASSWORD, scope="openid offline_access")
    long_ago = now() - 500 * DAY
    _set(app, victim.id, issued_at=long_ago, activated_at=long_ago, last_login_at=now() - 400 * DAY, inactivity_warned_at=now() - 31 * DAY)
    assert _run(app, now())["invalidated"] == 1
    with app.app_context():
        assert db.session.scalar(select(Token).where(Token.account_id == victim.id)).revoked_at is not None
        assert all(row.ended_at is not None for row in db.session.scalars(select(LoginSession).where(LoginSession.account_id == victim.id)))
    assert ent.refresh(tokens["refresh_token"]).status_code == 400
    assert ent.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401


def test_an_expired_account_that_logs_in_is_told_to_contact_the_establishment(app, accounts, client):
    _, made = accounts
    _set(app, made["pending_late"].id, issued_at=now() - 91 * DAY)
    _run(app, now())
    page = client.get("/connexion")
    from .oidc_helpers import csrf_token

    response = client.post("/connexion", data={"identifier": "pending.late1", "password": PASSWORD, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 403
    assert "Contactez l&#39;établissement" in response.text or "Contactez l'établissement" in response.text


def test_two_sweeps_at_once_count_each_account_once(app, make_app, settings, accounts):
    as_of, _ = accounts
    other = make_app(settings)
    barrier = threading.Barrier(2)
    results = []

    def run(application):
        with application.app_context():
            barrier.wait()
            counts = sweep(as_of=as_of)
            db.session.commit()
            results.append(counts)

    threads = [threading.Thread(target=run, args=(application,)) for application in (app, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert {key: sum(result[key] for result in results) for key in results[0]} == {"expired": 2, "warned": 1, "invalidated": 0}
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 1


def test_sweep_command_prints_json_counts(app, accounts):
    as_of, _ = accounts
    next_day = as_of + DAY
    result = app.test_cli_runner().invoke(args=["sweep", "--as-of", next_day.strftime("%Y-%m-%d"), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == '{"expired": 2, "warned": 1, "invalidated": 0}'
