"""Staff enrolment and login: password, TOTP (time injected), recovery codes, staff sessions."""

import re
from datetime import UTC, timedelta

import pyotp
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, StaffMember, StaffRecoveryCode, StaffSession
from idp.oidc.purge import purge_expired
from idp.staff_accounts.totp import decrypt_secret

from ..oidc_helpers import asks_to_log_in, csrf_token
from ..travel import frozen, moment
from .conftest import STAFF_PASSWORD, bound_labels, log_in, post_code, post_password

SECRET_TEXT = re.compile(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY_CODE = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def enrol(client, token, password=STAFF_PASSWORD):
    page = client.get(f"/gestion/inscription/{token}")
    assert page.status_code == 200
    return client.post(
        f"/gestion/inscription/{token}", data={"password": password, "confirmation": password, "csrf_token": csrf_token(page.text)}
    )


def confirm_setup(client, code):
    page = client.get("/gestion/double-authentification")
    return client.post("/gestion/double-authentification", data={"code": code, "csrf_token": csrf_token(page.text)})


def test_enrolment_sets_the_password_then_the_totp_then_shows_ten_recovery_codes_once(app, client, make_staff, clock):
    member = make_staff(enrolled=False)
    response = enrol(client, member.token)
    assert response.status_code == 303
    assert response.location.endswith("/gestion/double-authentification")

    setup = client.get("/gestion/double-authentification")
    assert setup.status_code == 200
    # The QR code is inline SVG that the CSP accepts (no style attribute), named for screen readers.
    svg = re.search(r"<svg role=\"img\"[^>]*>.*?</svg>", setup.text, re.S).group(0)
    assert "<title>" in svg and "<desc>" in svg and "<path" in svg
    assert "style=" not in svg
    assert "style-src 'self'" in setup.headers["Content-Security-Policy"]
    secret = SECRET_TEXT.search(setup.text).group(1).replace(" ", "")
    assert client.get("/gestion/double-authentification").text.count(SECRET_TEXT.search(setup.text).group(1)) == 1  # stable on reload
    assert bound_labels(setup.text) and "<script" not in setup.text

    codes_page = confirm_setup(client, pyotp.TOTP(secret).now())
    assert codes_page.status_code == 200
    # The pages that show a secret (the TOTP key, the recovery codes) are never cached.
    assert setup.headers["Cache-Control"] == codes_page.headers["Cache-Control"] == "no-store"
    codes = RECOVERY_CODE.findall(codes_page.text)
    assert len(set(codes)) == 10
    cookie = next(value for value in codes_page.headers.getlist("Set-Cookie") if value.startswith("idp_staff="))
    assert "Path=/gestion" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/gestion/").status_code == 302  # one establishment: straight to its dashboard
    assert client.get("/gestion/etablissements/0140001A/").status_code == 200

    with app.app_context():
        stored = db.session.get(StaffMember, member.id)
        assert stored.enrolled_at is not None and stored.enrolment_token_hash is None
        # Encrypted at rest, and only for this staff member's row.
        assert secret not in stored.totp_secret_encrypted
        assert decrypt_secret(stored.totp_secret_encrypted, member.id) == secret
        assert decrypt_secret(stored.totp_secret_encrypted, member.id + 1) is None
        hashes = db.session.scalars(select(StaffRecoveryCode.code_hash).where(StaffRecoveryCode.staff_id == member.id)).all()
        assert len(hashes) == 10 and not set(codes) & set(hashes)
    # The link has done its work.
    assert client.get(f"/gestion/inscription/{member.token}").status_code == 404


def test_enrolment_refuses_a_weak_password_and_keeps_the_link(client, make_staff):
    member = make_staff(enrolled=False)
    for weak in ("court1", "seulementdeslettres", "Claire-Martin-2024"):
        response = enrol(client, member.token, weak)
        assert response.status_code == 200
        assert 'aria-invalid="true"' in response.text
    assert "au moins 12 caractères" in enrol(client, member.token, "court1").text
    assert "chiffres et des lettres" in enrol(client, member.token, "seulementdeslettres").text
    assert "ni votre adresse mail ni votre nom" in enrol(client, member.token, "Claire-Martin-2024").text
    assert client.get(f"/gestion/inscription/{member.token}").status_code == 200


def test_enrolment_link_expires_after_seven_days(client, make_staff):
    sent_at = moment()
    with frozen(sent_at):
        member = make_staff(enrolled=False)
    with frozen(sent_at + timedelta(days=7, seconds=1)):
        page = client.get(f"/gestion/inscription/{member.token}")
    assert page.status_code == 404
    assert "nouveau lien" in page.text


def test_enrolment_with_a_wrong_code_enrols_nothing(app, client, make_staff, clock):
    member = make_staff(enrolled=False)
    enrol(client, member.token)
    response = confirm_setup(client, "000000")
    assert response.status_code == 200
    assert "Code incorrect" in response.text
    with app.app_context():
        assert db.session.get(StaffMember, member.id).totp_secret_encrypted is None
    assert client.get("/gestion/").status_code == 302
    assert "/gestion/connexion" in client.get("/gestion/").location


def test_first_login_after_setting_the_password_asks_for_the_totp_enrolment(client, make_staff, clock):
    member = make_staff(enrolled=False)
    enrol(client, member.token)
    other_browser = client.application.test_client()
    response = post_password(other_browser, member.email)
    assert response.status_code == 303
    assert response.location.endswith("/gestion/double-authentification")


def test_login_needs_the_password_and_then_the_totp_code(client, secretary, clock):
    response = post_password(client, secretary.email)
    assert response.status_code == 303 and response.location.endswith("/gestion/connexion/code")
    assert not any(value.startswith("idp_staff=") for value in response.headers.getlist("Set-Cookie"))
    # The password alone opens nothing.
    assert "/gestion/connexion" in client.get("/gestion/etablissements/0140001A/").location
    page = client.get("/gestion/connexion/code")
    assert bound_labels(page.text) and 'autocomplete="one-time-code"' in page.text
    response = post_code(client, pyotp.TOTP(secretary.secret).now())
    assert response.status_code == 303
    assert client.get("/gestion/etablissements/0140001A/").status_code == 200


def test_wrong_password_is_refused_with_one_message_for_unknown_and_known_emails(client, secretary, audit_events):
    wrong = post_password(client, secretary.email, "Pas-le-bon-2024")
    unknown = post_password(client, "personne@example.org", "Pas-le-bon-2024")
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "Adresse mail ou mot de passe incorrect." in response.text
    failures = [event.details for event in audit_events("staff_login_failed")]
    assert failures == [{"step": "password", "staff": secretary.email}, {"step": "password", "known": False}]


def test_a_replayed_totp_code_is_refused(client, secretary, clock):
    code = pyotp.TOTP(secretary.secret).now()
    post_password(client, secretary.email)
    assert post_code(client, code).status_code == 303
    client.post("/gestion/deconnexion", data={"csrf_token": csrf_token(client.get("/gestion/etablissements/0140001A/").text)})

    post_password(client, secretary.email)
    replayed = post_code(client, code)
    assert replayed.status_code == 200
    assert "déjà utilisé" in replayed.text
    clock.shift(30)
    assert post_code(client, pyotp.TOTP(secretary.secret).now()).status_code == 303


def test_a_code_one_step_off_is_accepted_two_steps_off_refused(client, secretary, clock, mid_step):
    totp = pyotp.TOTP(secretary.secret)
    post_password(client, secretary.email)
    late = totp.at((mid_step - timedelta(seconds=60)).replace(tzinfo=UTC))
    assert post_code(client, late).status_code == 200
    previous = totp.at((mid_step - timedelta(seconds=30)).replace(tzinfo=UTC))
    assert post_code(client, previous).status_code == 303


def test_a_recovery_code_replaces_the_totp_code_once(app, client, secretary, clock, audit_events):
    code = secretary.recovery_codes[3]
    post_password(client, secretary.email)
    # Typed as printed, or in capitals without the hyphens.
    response = post_code(client, code.upper().replace("-", " "))
    assert response.status_code == 303
    follow = client.get(response.location, follow_redirects=True)
    assert "il vous en reste 9" in follow.text
    assert audit_events("staff_login")[-1].details["second_factor"] == "recovery_code"

    other_browser = client.application.test_client()
    post_password(other_browser, secretary.email)
    assert post_code(other_browser, code).status_code == 200


def test_second_factor_failures_are_throttled(client, secretary, clock):
    post_password(client, secretary.email)
    for _ in range(5):
        assert post_code(client, "123456").status_code == 200
    response = post_code(client, pyotp.TOTP(secretary.secret).now())
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Trop de tentatives" in response.text


def test_password_failures_are_throttled(client, secretary, clock):
    for _ in range(5):
        post_password(client, secretary.email, "Pas-le-bon-2024")
    response = post_password(client, secretary.email)
    assert response.status_code == 429
    assert "Trop de tentatives" in response.text


def test_the_code_step_expires_a_few_minutes_after_the_password(client, secretary, clock):
    post_password(client, secretary.email)
    token = csrf_token(client.get("/gestion/connexion/code").text)
    clock.shift(11 * 60)
    response = client.post("/gestion/connexion/code", data={"code": pyotp.TOTP(secretary.secret).now(), "csrf_token": token})
    assert response.status_code == 302
    assert response.location.endswith("/gestion/connexion")


def test_staff_session_ends_after_the_idle_lifetime_and_at_logout(app, client, secretary, clock):
    log_in(client, secretary)
    clock.shift(app.config["SESSION_IDLE_LIFETIME"] + 1)
    assert "/gestion/connexion" in client.get("/gestion/etablissements/0140001A/").location

    clock.shift(30)
    log_in(client, secretary)
    page = client.get("/gestion/etablissements/0140001A/")
    response = client.post("/gestion/deconnexion", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    assert "/gestion/connexion" in client.get("/gestion/etablissements/0140001A/").location
    with app.app_context():
        sessions = db.session.scalars(select(StaffSession).where(StaffSession.staff_id == secretary.id)).all()
        assert len(sessions) == 2
        assert sessions[1].ended_at is not None  # logout; the first one timed out


def test_the_purge_deletes_a_staff_session_an_hour_after_its_absolute_end(app, client, secretary, clock):
    log_in(client, secretary)
    clock.shift(app.config["SESSION_ABSOLUTE_LIFETIME"] + 3600 - 1)
    with app.app_context():
        assert purge_expired()["staff_sessions"] == 0
    clock.shift(2)
    with app.app_context():
        assert purge_expired()["staff_sessions"] == 1
        assert db.session.scalars(select(StaffSession)).all() == []
    assert "/gestion/connexion" in client.get("/gestion/etablissements/0140001A/").location


def test_a_staff_session_gives_no_code_to_a_relying_party(client, ent, secretary, clock):
    log_in(client, secretary)
    response, _values = ent.authorize()
    assert asks_to_log_in(response)  # the family login, not a code


def test_staff_login_events_are_audited_without_secrets(app, client, secretary, clock):
    log_in(client, secretary)
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event.like("staff_%"))).all()
    assert [row.event for row in rows] == ["staff_login"]
    assert rows[0].details == {"staff": secretary.email, "second_factor": "totp"}
    text = repr([row.details for row in rows])
    assert STAFF_PASSWORD not in text and secretary.secret not in text


def test_login_pages_work_without_javascript_and_label_every_field(client):
    page = client.get("/gestion/connexion")
    assert page.status_code == 200
    assert "<script" not in page.text
    assert bound_labels(page.text)
    assert re.search(r'<label class="fr-label" for="email">Adresse mail<span aria-hidden="true">&nbsp;\*</span></label>', page.text)


def test_login_returns_to_the_page_asked_for_and_never_leaves_the_back_office(client, secretary, clock):
    asked = client.get("/gestion/etablissements/0140001A/?q=dupont")
    assert asked.status_code == 302
    login_page = client.get(asked.location)
    assert 'value="/gestion/etablissements/0140001A/?q=dupont"' in login_page.text
    response = post_password(client, secretary.email, next_url="/gestion/etablissements/0140001A/?q=dupont")
    response = post_code(client, pyotp.TOTP(secretary.secret).now())
    assert response.location.endswith("/gestion/etablissements/0140001A/?q=dupont")

    other = client.application.test_client()
    post_password(other, secretary.email, next_url="https://evil.example/")
    clock.shift(30)
    response = post_code(other, pyotp.TOTP(secretary.secret).now())
    assert response.location.endswith("/gestion/")
