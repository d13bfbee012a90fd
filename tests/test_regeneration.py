"""The letter's provisional secret at the login page, regeneration (same account, new
secret, everything else revoked) and the reply coupon's refusal."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from idp.accounts.lifecycle import regenerate, set_refusal
from idp.accounts.links import find_link, new_link
from idp.clock import now
from idp.extensions import db
from idp.models import Account, AccountState, AuthorizationCode, LinkPurpose, LoginSession, Token
from idp.schools.letters import render_letters

from .conftest import PASSWORD
from .issuing_helpers import add_pupil, issue, page_value, pdf_pages
from .oidc_helpers import query_of
from .test_login import post_login, set_account
from .travel import french_date, frozen, in_paris, moment


@pytest.fixture
def issued_parent(app, establishment):
    """jean.dupont1, issued for Alice Dupont: its snapshot with the letter's secret."""
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    return next(each for each in issue(app) if each.kind == "parent")


def test_the_provisional_secret_is_accepted_as_printed_or_retyped(app, issued_parent):
    secret = issued_parent.secret
    for typed in (secret, secret.lower(), secret.replace("-", " "), secret.replace("-", "")):
        client = app.test_client()
        response = post_login(client, "jean.dupont1", typed)
        # On to the guide's first-connection form.
        assert response.status_code == 303, typed
        assert urlsplit(response.location).path == "/premiere-connexion"
        page = client.get(response.location)
        assert "jean.dupont1" in page.text and "Votre enfant : Alice Dupont" in page.text


def test_the_secret_of_an_expired_account_says_it_expired(app, issued_parent):
    set_account(app, "jean.dupont1", state=AccountState.EXPIRED)
    response = post_login(app.test_client(), "jean.dupont1", issued_parent.secret)
    assert response.status_code == 403
    assert "délai de 3 mois" in response.text


def test_a_wrong_provisional_secret_is_a_failed_login(app, issued_parent, audit_events):
    response = post_login(app.test_client(), "jean.dupont1", "AAAA-BBBB-CCCC")
    assert response.status_code == 200
    assert "Identifiant ou mot de passe incorrect." in response.text
    assert [event.details for event in audit_events("login_failed")] == [{"known": True}]


def test_wrong_provisional_secrets_count_against_the_throttle(settings, make_app, establishment, app):
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont")])
    (parent,) = issue(app, kind="parent")
    settings["THROTTLE_PER_IDENTIFIER"] = "3 per 15 minutes"
    other = make_app(settings).test_client()
    for _ in range(3):
        post_login(other, "jean.dupont1", "AAAA-BBBB-CCCC")
    assert post_login(other, "jean.dupont1", parent.secret).status_code == 429


# --- regeneration ---------------------------------------------------------------------


def _regenerate(app, identifier, letters=False):
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == identifier))
        issued = regenerate(account)
        pdf = render_letters([issued]) if letters else None
        secret = issued.secret
        db.session.commit()
    return (secret, pdf) if letters else secret


def test_regeneration_keeps_the_account_identifier_and_sub(app, issued_parent):
    regenerated_at = moment(days=30, paris="11:00")  # a month after the first letter
    with frozen(regenerated_at):
        secret, pdf = _regenerate(app, "jean.dupont1", letters=True)
    assert secret != issued_parent.secret
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == "jean.dupont1"))
        assert (account.id, account.sub) == (issued_parent.id, issued_parent.sub)
        assert account.state == AccountState.ISSUED
        assert account.issued_at == regenerated_at
        assert db.session.scalar(db.select(db.func.count(Account.id))) == 2  # the parent and Alice's own
    (text,) = pdf_pages(pdf)
    assert page_value(text, "Identifiant") == "jean.dupont1"
    assert page_value(text, "Mot de passe provisoire") == secret
    deadline = in_paris(regenerated_at).date() + timedelta(days=90)  # the new issue date plus ACTIVATION_DAYS
    assert f"À activer avant le : {french_date(deadline)}" in text


def test_regeneration_kills_the_old_secret(app, issued_parent):
    secret = _regenerate(app, "jean.dupont1")
    client = app.test_client()
    assert post_login(client, "jean.dupont1", issued_parent.secret).status_code == 200  # refused: wrong
    assert post_login(client, "jean.dupont1", secret).status_code == 303  # accepted: first connection


def test_regenerating_an_active_account_ends_its_password_sessions_and_tokens(app, ent, parent, audit_events):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    set_account(app, "jean.dupont1", email_verified=True, birth_date_failures=2, blocked_reason="birth_date")
    secret = _regenerate(app, "jean.dupont1")

    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == "jean.dupont1"))
        assert account.password_hash is None and account.email is None and not account.email_verified
        assert account.birth_date_failures == 0 and account.blocked_reason is None
        assert account.sub == parent.sub
        assert db.session.scalar(db.select(db.func.count(LoginSession.id)).where(LoginSession.ended_at.is_(None))) == 0
        assert db.session.scalar(db.select(db.func.count(Token.id)).where(Token.revoked_at.is_(None))) == 0
        unspent = db.session.scalars(db.select(AuthorizationCode).where(AuthorizationCode.used_at.is_(None))).all()
        assert len(unspent) == 1 and unspent[0].expires_at <= now()
    assert ent.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert ent.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    assert ent.exchange(code).json["error"] == "invalid_grant"
    # The browser's session is gone: the relying party is sent to the login page again.
    response, _ = ent.authorize(prompt="none")
    assert query_of(response.location)["error"] == "login_required"
    client = app.test_client()
    assert post_login(client, "jean.dupont1", PASSWORD).status_code == 200  # the password is gone
    assert post_login(client, "jean.dupont1", secret).status_code == 303
    assert [event.account_id for event in audit_events("account_regenerated")] == [parent.id]


def test_regeneration_kills_pending_activation_and_reset_links(app, issued_parent):
    with app.app_context():
        account = db.session.get(Account, issued_parent.id)
        later = now() + timedelta(days=30)
        tokens = {purpose: new_link(account, purpose, "jean@example.org", later) for purpose in LinkPurpose}
        db.session.commit()
        assert all(find_link(token, purpose) is not None for purpose, token in tokens.items())
    _regenerate(app, "jean.dupont1")
    with app.app_context():
        assert all(find_link(token, purpose) is None for purpose, token in tokens.items())


def test_regeneration_reopens_expired_invalidated_and_blocked_accounts(app, issued_parent):
    for state in (AccountState.EXPIRED, AccountState.INVALIDATED, AccountState.BLOCKED):
        set_account(app, "jean.dupont1", state=state)
        _regenerate(app, "jean.dupont1")
        with app.app_context():
            assert db.session.scalar(db.select(Account.state).where(Account.identifier == "jean.dupont1")) == AccountState.ISSUED


# --- the reply coupon -------------------------------------------------------------------


def test_refusal_is_recorded_undone_and_audited(app, issued_parent, audit_events):
    with app.app_context():
        account = db.session.get(Account, issued_parent.id)
        assert set_refusal(account, True) is True
        assert set_refusal(account, True) is False
        db.session.commit()
        assert db.session.get(Account, issued_parent.id).teleservices_refused is True
        assert set_refusal(account, False) is True
        db.session.commit()
        assert db.session.get(Account, issued_parent.id).teleservices_refused is False
    assert [event.event for event in audit_events() if event.event.startswith("teleservices")] == [
        "teleservices_refused",
        "teleservices_refusal_withdrawn",
    ]
