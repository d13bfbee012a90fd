"""« mot de passe oublié » and « identifiant oublié » (docs/parents-journey.md,
« Lost password or identifier ») through the real routes and a real SMTP server: what the emails
carry, single use and expiry of the link and its temporary password, the old password alive
until the reset completes, sessions and refresh tokens revoked after it, the accounts that get
no reset, and the `next` that brings the person back to the relying party."""

import logging
import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, func, select

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.mail import wait_for_deliveries
from idp.models import Account, AccountLink, AccountState, AuditEvent, LegalGuardian, LinkPurpose, OutboxMessage
from idp.oidc.purge import purge_expired
from idp.schools.demo_accounts import create_active_account
from idp.schools.establishments import add_establishment

from .conftest import ISSUER, PASSWORD
from .oidc_helpers import csrf_token, login_form_action, query_of
from .travel import french_date, frozen, in_paris, moment

NEW_PASSWORD = "Nouveau-pass42"
LINE = re.compile(r"^Mot de passe temporaire : (\S+)$", re.MULTILINE)
LINK = re.compile(r"http://[^/\s]+/mot-de-passe-oublie/[A-Za-z0-9_-]+")


def ask_reset(client, identifier, next_url=None):
    page = client.get("/mot-de-passe-oublie", query_string={"next": next_url} if next_url else None)
    data = {"identifier": identifier, "csrf_token": csrf_token(page.text), "next": next_url or ""}
    return client.post("/mot-de-passe-oublie", data=data)


def ask_identifiers(client, email):
    page = client.get("/identifiant-oublie")
    return client.post("/identifiant-oublie", data={"email": email, "csrf_token": csrf_token(page.text)})


def text_of(message):
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(message):
    return message.get_body(("html",)).get_content().replace("\r\n", "\n")


def reset_message(message):
    """(link, temporary password) of a « mot de passe oublié » email."""
    text = text_of(message)
    return LINK.search(text).group(0), LINE.search(text).group(1)


def open_link(client, link):
    return client.get(urlsplit(link).path)


def complete(client, link, temporary, password=NEW_PASSWORD, confirmation=None):
    path = urlsplit(link).path
    page = client.get(path)
    if page.status_code != 200:  # a dead link: the form comes from an earlier visit
        page = client.get("/mot-de-passe-oublie")
    token = csrf_token(page.text)
    data = {
        "temporary_password": temporary,
        "password": password,
        "password_confirmation": password if confirmation is None else confirmation,
        "csrf_token": token,
    }
    return client.post(path, data=data)


def log_in(client, identifier, password, next_url=None):
    page = client.get("/connexion")
    data = {"identifier": identifier, "password": password, "csrf_token": csrf_token(page.text), "next": next_url or ""}
    return client.post("/connexion", data=data)


def set_account(app, identifier, **values):
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.identifier == identifier))
        for name, value in values.items():
            setattr(account, name, value)
        db.session.commit()


def field_errors(html, field):
    block = html.split(f'id="{field}-messages">')[1].split("</div>")[0]
    return re.findall(r'<p class="fr-message fr-message--error">([^<]*)</p>', block)


# --- « mot de passe oublié » -----------------------------------------------------------------


def test_forgotten_password_page_asks_the_identifier_in_the_guide_words(client):
    page = client.get("/mot-de-passe-oublie")
    assert page.status_code == 200
    assert "<h1>Mot de passe oublié</h1>" in page.text
    assert re.search(r'<label [^>]*for="identifier"[^>]*>Identifiant<span aria-hidden="true">&nbsp;\*</span></label>', page.text)
    guide = "Un lien et un mot de passe temporaire vous seront envoyés par courrier électronique afin de modifier le mot de passe."
    assert guide in page.text
    assert 'value="Valider"' in page.text


def test_reset_email_carries_a_link_and_the_temporary_password_on_its_own_line(app, client, parent, smtp_server, audit_events):
    asked_at = moment()
    with frozen(asked_at):  # and the message's time too, or the sender would find it not yet due
        answer = ask_reset(client, " Jean.Dupont1 ")
        (message,) = smtp_server.wait_for(1)
    assert answer.status_code == 200
    assert "un courrier électronique vient d'être envoyé" in answer.text
    assert message["To"] == "jean@example.org"
    assert message["Subject"] == "Mot de passe oublié : votre lien et votre mot de passe temporaire"
    text = text_of(message)
    html = html_of(message)
    link, temporary = reset_message(message)
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", temporary)
    assert "Bonjour Jean Dupont," in text
    assert "jean.dupont1" in text
    assert "ne servent qu'une fois, pendant 1 heure" in text
    assert "Votre mot de passe actuel reste valable tant que vous n'en avez pas choisi un nouveau." in text
    assert f'<a href="{link}">' in html
    assert f"Mot de passe temporaire : {temporary}</p>" in html
    with app.app_context():
        (row,) = db.session.scalars(select(AccountLink).where(AccountLink.purpose == LinkPurpose.PASSWORD_RESET)).all()
        token = link.rsplit("/", 1)[1]
        assert token not in (row.token_hash, row.secret_hash) and temporary not in (row.token_hash, row.secret_hash)
        assert row.expires_at == asked_at + timedelta(hours=1)
    (event,) = audit_events("password_reset_requested")
    assert event.details == {"identifier": "jean.dupont1", "outcome": "sent"}


def test_old_password_works_until_the_reset_completes_then_only_the_new_one(client, parent, smtp_server):
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    assert open_link(client, link).status_code == 200
    assert log_in(client.application.test_client(), "jean.dupont1", PASSWORD).status_code == 303

    done = complete(client, link, temporary)
    assert done.status_code == 200
    assert "Le mot de passe de votre compte jean.dupont1 est modifié." in done.text
    assert log_in(client.application.test_client(), "jean.dupont1", PASSWORD).status_code == 200
    assert log_in(client.application.test_client(), "jean.dupont1", NEW_PASSWORD).status_code == 303


def test_link_and_temporary_password_serve_once(client, parent, smtp_server):
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    assert complete(client, link, temporary).status_code == 200
    again = open_link(client, link)
    assert again.status_code == 404
    assert "Ce lien n'est plus valable" in again.text
    assert complete(client, link, temporary, password="Encore-autre7").status_code == 404
    assert log_in(client.application.test_client(), "jean.dupont1", NEW_PASSWORD).status_code == 303


@pytest.fixture
def half_hour_links(settings, make_app):
    """An application whose reset links live 30 minutes."""
    return make_app(settings | {"PASSWORD_RESET_MINUTES": 30})


def test_link_expires_after_the_lifetime_setting(half_hour_links, parent, smtp_server):
    client = half_hour_links.test_client()
    with frozen() as traveller:
        ask_reset(client, "jean.dupont1")
        first_link, first_temporary = reset_message(smtp_server.wait_for(1)[0])
        assert "pendant 30 minutes" in text_of(smtp_server.messages[0])
        traveller.shift(timedelta(minutes=29, seconds=59))
        assert open_link(client, first_link).status_code == 200
        traveller.shift(timedelta(seconds=1))
        assert open_link(client, first_link).status_code == 404
        assert complete(client, first_link, first_temporary).status_code == 404

        ask_reset(client, "jean.dupont1")
        link, temporary = reset_message(smtp_server.wait_for(2)[1])
        traveller.shift(timedelta(minutes=29))
        assert complete(client, link, temporary).status_code == 200


def test_the_purge_deletes_a_link_an_hour_after_it_expired_and_it_stays_refused(half_hour_links, parent, smtp_server):
    app = half_hour_links
    client = app.test_client()
    with frozen() as traveller:
        ask_reset(client, "jean.dupont1")
        link, temporary = reset_message(smtp_server.wait_for(1)[0])
        traveller.shift(timedelta(minutes=90))
        with app.app_context():
            assert purge_expired()["links"] == 0  # expired a minute less than an hour ago
        traveller.shift(timedelta(minutes=1))
        with app.app_context():
            assert purge_expired()["links"] == 1
            assert db.session.scalar(select(func.count()).select_from(AccountLink)) == 0
        # Gone, it is refused as when it had expired.
        again = open_link(client, link)
        assert again.status_code == 404 and "Ce lien n'est plus valable" in again.text
        assert complete(client, link, temporary).status_code == 404


def test_asking_again_keeps_the_previous_link_each_with_its_own_temporary_password(client, parent, smtp_server):
    ask_reset(client, "jean.dupont1")
    smtp_server.wait_for(1)  # the emails in the order they were asked
    ask_reset(client, "jean.dupont1")
    first, second = smtp_server.wait_for(2)
    (old_link, old_temporary), (link, temporary) = reset_message(first), reset_message(second)
    assert old_temporary != temporary
    # A stranger asking again cannot cancel the link the family is about to open.
    assert open_link(client, old_link).status_code == 200
    wrong = complete(client, link, old_temporary)
    assert wrong.status_code == 400
    assert field_errors(wrong.text, "temporary_password") == ["Le mot de passe temporaire est incorrect."]
    assert complete(client, link, temporary.lower().replace("-", " ")).status_code == 200  # as typed from the email
    # Once the password is reset, every other link stops working.
    assert open_link(client, old_link).status_code == 404


def test_an_account_receives_a_few_reset_emails_an_hour_whoever_asks(app, parent, smtp_server, audit_events):
    for number in range(6):
        stranger = app.test_client()
        stranger.environ_base["REMOTE_ADDR"] = f"198.51.100.{number + 1}"
        assert ask_reset(stranger, "jean.dupont1").status_code == 200
    wait_for_jobs(app)
    wait_for_deliveries(app)
    assert len(smtp_server.messages) == 3  # RECOVERY_EMAILS: 3 per hour
    outcomes = [event.details["outcome"] for event in audit_events("password_reset_requested")]
    assert sorted(outcomes) == ["over_budget"] * 3 + ["sent"] * 3
    for message in smtp_server.messages:  # each link sent stays valid
        assert open_link(app.test_client(), reset_message(message)[0]).status_code == 200


def test_wrong_temporary_password_changes_nothing_and_is_audited(app, client, parent, smtp_server, audit_events):
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    wrong = complete(client, link, "AAAA-BBBB-CCCC")
    assert wrong.status_code == 400
    assert field_errors(wrong.text, "temporary_password") == ["Le mot de passe temporaire est incorrect."]
    assert log_in(app.test_client(), "jean.dupont1", PASSWORD).status_code == 303
    assert len(audit_events("password_reset_failed")) == 1
    assert complete(client, link, temporary).status_code == 200


@pytest.mark.parametrize(
    ("password", "confirmation", "field", "message"),
    [
        ("Court1", "Court1", "password", "Le mot de passe doit comporter au moins 8 caractères."),
        ("sanschiffre", "sanschiffre", "password", "Le mot de passe doit comporter au moins un chiffre."),
        ("12345678", "12345678", "password", "Le mot de passe doit comporter au moins une lettre."),
        ("xjean.dupont1x", "xjean.dupont1x", "password", "Le mot de passe ne doit pas contenir votre identifiant."),
        ("Alice2024!", "Alice2024!", "password", "Le mot de passe ne doit pas contenir votre nom ni celui de votre enfant."),
        ("Chat04052012", "Chat04052012", "password", "Le mot de passe ne doit pas contenir de date, comme une date de naissance."),
        (NEW_PASSWORD, "Autre-pass42", "password_confirmation", "Les deux mots de passe sont différents."),
    ],
)
def test_new_password_follows_the_rules_of_the_first_connection(app, client, parent, smtp_server, password, confirmation, field, message):
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    refused = complete(client, link, temporary, password, confirmation)
    assert refused.status_code == 400
    assert message in field_errors(refused.text, field)
    assert log_in(app.test_client(), "jean.dupont1", PASSWORD).status_code == 303
    assert open_link(client, link).status_code == 200  # the link waits for a good password


def test_reset_ends_every_session_and_refresh_token_and_sends_a_notification(app, client, ent, parent, smtp_server, audit_events):
    tokens, _claims = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    assert "refresh_token" in tokens
    assert ent.client.get("/compte/").status_code == 200  # the ENT's browser has a session here

    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    assert complete(client, link, temporary).status_code == 200

    assert ent.client.get("/compte/").status_code == 302
    refreshed = ent.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"
    assert ent.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401

    notice = smtp_server.wait_for(2)[1]
    assert notice["To"] == "jean@example.org"
    assert notice["Subject"] == "Le mot de passe de votre compte Téléservices a été modifié"
    text = text_of(notice)
    assert "toutes les connexions ouvertes avec ce compte ont été fermées, y compris à L'Educ de Normandie" in text
    assert f"{ISSUER}/mot-de-passe-oublie" in text
    assert NEW_PASSWORD not in text and temporary not in text
    assert [event.event for event in audit_events() if event.event.startswith("password_reset")] == [
        "password_reset_requested",
        "password_reset",
    ]


def test_notification_names_the_moment_in_paris_time(settings, make_app, parent, smtp_server):
    app = make_app(settings)
    client = app.test_client()
    changed_at = moment(paris="09:41")
    with frozen(changed_at):
        ask_reset(client, "jean.dupont1")
        link, temporary = reset_message(smtp_server.wait_for(1)[0])
        complete(client, link, temporary)
        text = text_of(smtp_server.wait_for(2)[1])
    day = french_date(in_paris(changed_at).date())
    assert f"Le mot de passe de votre compte Téléservices jean.dupont1 a été modifié le {day} à 09:41." in text


def test_pending_account_resets_its_password_and_stays_pending(app, client, parent, smtp_server):
    set_account(app, "jean.dupont1", state=AccountState.PENDING_EMAIL, email_verified=False)
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    assert complete(client, link, temporary).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Account.state).where(Account.identifier == "jean.dupont1")) == AccountState.PENDING_EMAIL


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (AccountState.ISSUED, "Ce compte n'a pas encore été activé"),
        (AccountState.EXPIRED, "Ce compte n'a pas été activé à temps."),
        (AccountState.INVALIDATED, "Ce compte, inutilisé depuis longtemps, a été invalidé."),
        (AccountState.BLOCKED, "Ce compte est bloqué"),
    ],
)
def test_accounts_that_cannot_log_in_get_no_reset_but_are_told_to_contact_the_establishment(
    app, client, parent, smtp_server, audit_events, state, reason
):
    set_account(app, "jean.dupont1", state=state)
    ask_reset(client, "jean.dupont1")
    (message,) = smtp_server.wait_for(1)
    assert message["Subject"] == "Mot de passe oublié : contactez l'établissement"
    text = text_of(message)
    assert reason in text
    assert "Contactez l'établissement : il peut générer de nouveaux codes d'accès et vous remettre un nouveau courrier." in text
    assert not LINK.search(text) and not LINE.search(text)
    with app.app_context():
        assert db.session.scalar(select(AccountLink).where(AccountLink.purpose == LinkPurpose.PASSWORD_RESET)) is None
    assert audit_events("password_reset_requested")[0].details["outcome"] == "refused"


def test_a_link_dies_when_the_account_stops_being_allowed_or_changes_address(app, client, parent, smtp_server):
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    set_account(app, "jean.dupont1", state=AccountState.INVALIDATED)
    assert complete(client, link, temporary).status_code == 404
    set_account(app, "jean.dupont1", state=AccountState.ACTIVE, email="nouvelle@example.org")
    assert complete(client, link, temporary).status_code == 404


def test_an_account_without_address_and_an_unknown_identifier_send_nothing(app, client, make_account, smtp_server, audit_events):
    make_account("eleve", "Alice", "Martin", "Cartable-2024", birthdate="2011-09-01")
    ask_reset(client, "alice.martin1")
    wait_for_jobs(app)  # two background threads: the decisions in the order they were asked
    ask_reset(client, "personne.inconnue1")
    wait_for_jobs(app)
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage)) is None
    assert [event.details["outcome"] for event in audit_events("password_reset_requested")] == ["no_email", "unknown"]
    assert audit_events("password_reset_requested")[1].details["identifier"] == "personne.inconnue1"


def test_the_page_answers_while_the_smtp_server_holds_the_email(client, parent, smtp_server):
    smtp_server.hold()
    assert ask_reset(client, "jean.dupont1").status_code == 200  # queued: the page never waits for SMTP
    assert smtp_server.messages == []
    smtp_server.release()
    assert smtp_server.wait_for(1)


def test_reset_page_in_english_and_email_in_the_account_language(app, client, parent, smtp_server):
    set_account(app, "jean.dupont1", language="en")
    client.get("/langue/en")
    page = client.get("/mot-de-passe-oublie")
    assert "<h1>Forgotten password</h1>" in page.text
    ask_reset(client, "jean.dupont1")
    text = text_of(smtp_server.wait_for(1)[0])
    assert re.search(r"^Temporary password: \S+$", text, re.MULTILINE)
    assert "once, within 1 hour" in text


def test_no_secret_reaches_the_logs_or_the_audit(app, client, parent, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    ask_reset(client, "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    complete(client, link, "AAAA-BBBB-CCCC")
    complete(client, link, temporary)
    smtp_server.wait_for(2)
    token = link.rsplit("/", 1)[1]
    # Ours, not the test SMTP server's (aiosmtpd logs what it receives as "mail.log").
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name != "mail.log")
    with app.app_context():
        audited = " ".join(str(row.details) for row in db.session.scalars(select(AuditEvent)))
    for secret in (token, temporary, NEW_PASSWORD, "AAAA-BBBB-CCCC"):
        assert secret not in logged and secret not in audited


# --- « identifiant oublié » ------------------------------------------------------------------


@pytest.fixture
def three_children(app, establishment):
    """Jean Dupont has three children, hence three accounts on one address, one child in another school."""
    with app.app_context():
        lycee = add_establishment("0140002B", "Lycée <Malherbe> & Cie")
        college = establishment.uai
        children = (("Alice", "2012-05-04", college), ("Basile", "2014-02-01", college), ("Chloé", "2009-10-10", lycee.uai))
        for given_name, birthdate, uai in children:
            child = {"given_name": given_name, "family_name": "Dupont", "birthdate": birthdate}
            create_active_account("parent", "Jean", "Dupont", PASSWORD, uai, email="jean@example.org", child=child)
        db.session.commit()


def test_forgotten_identifier_page_asks_the_address(client):
    page = client.get("/identifiant-oublie")
    assert page.status_code == 200
    assert "<h1>Identifiant oublié</h1>" in page.text
    assert re.search(r'<label [^>]*for="email"[^>]*>Adresse mail<span aria-hidden="true">&nbsp;\*</span></label>', page.text)
    assert "Le mot de passe reste inchangé." in page.text


def test_one_email_lists_every_identifier_with_its_child_and_school(app, client, three_children, smtp_server, audit_events):
    answer = ask_identifiers(client, " JEAN@example.org ")
    assert answer.status_code == 200
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "jean@example.org"
    assert message["Subject"] == "Identifiant oublié : vos identifiants Téléservices"
    text = text_of(message)
    assert "- jean.dupont1 : Alice Dupont, Collège Jean Moulin\n" in text
    assert "- jean.dupont2 : Basile Dupont, Collège Jean Moulin\n" in text
    assert "- jean.dupont3 : Chloé Dupont, Lycée <Malherbe> & Cie\n" in text
    assert "Votre mot de passe reste inchangé." in text
    html = html_of(message)
    assert "<li>jean.dupont3 : Chloé Dupont, Lycée &lt;Malherbe&gt; &amp; Cie</li>" in html
    assert audit_events("identifier_reminder_requested")[0].details == {"accounts": 3}
    for number in (1, 2, 3):
        assert log_in(app.test_client(), f"jean.dupont{number}", PASSWORD).status_code == 303  # unchanged


def test_identifiers_of_accounts_that_can_no_longer_be_used_say_so(app, client, parent, smtp_server):
    set_account(app, "jean.dupont1", state=AccountState.INVALIDATED)
    ask_identifiers(client, "jean@example.org")
    text = text_of(smtp_server.wait_for(1)[0])
    assert "- jean.dupont1 : Alice Dupont, Collège Jean Moulin (compte à renouveler : contactez l'établissement)" in text


def test_only_addresses_given_at_first_connection_count_not_the_school_file(app, client, parent, smtp_server, audit_events):
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.identifier == "jean.dupont1"))
        pupil = account.children[0]
        guardian = LegalGuardian(pupil=pupil, rank=1, given_name="Jean", family_name="Dupont", school_email="ecole@example.org")
        guardian.account = account
        db.session.add(guardian)
        db.session.commit()
    ask_identifiers(client, "ecole@example.org")
    # An issued account's address (before any first connection) is not attached either.
    set_account(app, "jean.dupont1", state=AccountState.ISSUED, first_connection_at=None)
    ask_identifiers(client, "jean@example.org")
    wait_for_jobs(app)
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage)) is None
    assert [event.details for event in audit_events("identifier_reminder_requested")] == [{"accounts": 0}, {"accounts": 0}]


@pytest.mark.parametrize("email", ["é@é.é", "😀@x.fr", "\u202e@x.fr", "<script>@x.fr", "claire,x@parent.example"])
def test_an_address_the_mailer_cannot_send_to_is_refused_with_a_message(app, client, email):
    refused = ask_identifiers(client, email)
    assert refused.status_code == 400
    assert field_errors(refused.text, "email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage)) is None


def test_an_address_that_is_not_one_is_refused_with_a_message(client):
    refused = ask_identifiers(client, "pas-une-adresse")
    assert refused.status_code == 400
    assert field_errors(refused.text, "email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]


# --- no enumeration --------------------------------------------------------------------------


def without_csrf(html):
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', 'name="csrf_token"', html)


@pytest.fixture
def every_state(app, make_account):
    """One account per state (and an active one without an address), each with its own address."""
    made = {}
    for number, state in enumerate(AccountState):
        account = make_account("parent", "Jean", "Dupont", email=f"parent{number}@example.org")
        values = {"state": state}
        if state == AccountState.ISSUED:
            values["first_connection_at"] = None
        set_account(app, account.identifier, **values)
        made[state.value] = (account.identifier, f"parent{number}@example.org")
    pupil = make_account("eleve", "Alice", "Martin", "Cartable-2024", birthdate="2011-09-01")
    made["active without address"] = (pupil.identifier, "personne@example.org")
    return made


def test_both_pages_answer_the_same_whatever_exists_and_whatever_its_state(app, every_state, smtp_server):
    identifiers = [identifier for identifier, _ in every_state.values()] + ["personne.inconnue1", "x"]
    addresses = [address for _, address in every_state.values()] + ["inconnu@example.org"]
    for ask, values in ((ask_reset, identifiers), (ask_identifiers, addresses)):
        answers = set()
        for number, value in enumerate(values):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"203.0.113.{number + 1}"
            response = ask(client, value)
            answers.add((response.status_code, without_csrf(response.text)))
        assert len(answers) == 1, f"{ask.__name__}: {len(answers)} different answers"
        assert next(iter(answers))[0] == 200
    # Mail went out for the accounts that have an address (reset or refusal; identifiers).
    smtp_server.wait_for(len(AccountState) * 2 - 1)


def statements_of(app, request):
    """The SQL statements `request()` runs, as (verb, table)."""
    seen = []

    def note(connection, cursor, statement, parameters, context, executemany):
        if threading.get_ident() != requesting:
            return  # the background sender of the emails
        verb = statement.split(None, 1)[0].upper()
        outer = statement
        while re.search(r"\([^()]*\)", outer):  # subqueries and column lists aside
            outer = re.sub(r"\([^()]*\)", "", outer)
        table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", outer, re.IGNORECASE)
        seen.append((verb, table.group(1) if table else ""))

    requesting = threading.get_ident()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        request()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_a_request_does_the_same_database_work_whatever_it_names(app, parent, every_state):
    """The request only queues the decision: no statement of its own depends on what the
    identifier or the address names (the decision runs after the answer, in the background)."""
    client = app.test_client()
    client.get("/mot-de-passe-oublie")
    work = {}
    for identifier in ("jean.dupont1", every_state["invalidated"][0], "personne.inconnue1"):
        work[identifier] = statements_of(app, lambda identifier=identifier: ask_reset(client, identifier))
        wait_for_jobs(app)
    assert len(set(map(tuple, work.values()))) == 1, work
    assert not [statement for statement in work["jean.dupont1"] if statement[0] in ("INSERT", "UPDATE", "DELETE")]

    client.get("/identifiant-oublie")
    found = statements_of(app, lambda: ask_identifiers(client, "jean@example.org"))
    wait_for_jobs(app)
    assert found == statements_of(app, lambda: ask_identifiers(client, "inconnu@example.org"))
    # The decisions were made all the same, after the answers.
    assert [event.details["outcome"] for event in audit_events_of(app, "password_reset_requested")] == ["sent", "refused", "unknown"]
    assert [event.details["accounts"] for event in audit_events_of(app, "identifier_reminder_requested")] == [1, 0]


def audit_events_of(app, name):
    wait_for_jobs(app)
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)).all()


# --- next ------------------------------------------------------------------------------------


def test_after_a_reset_the_login_goes_back_to_the_relying_party(app, ent, parent, smtp_server):
    login_page, values = ent.authorize(scope="openid profile")
    next_url = login_form_action(login_page)  # the authorization request, to come back to
    href = re.search(r'href="([^"]*)">mot de passe oublié</a>', login_page.text).group(1).replace("&amp;", "&")
    assert query_of(href)["next"] == next_url
    forgotten = ent.client.get(href)
    assert re.search(r'name="next" type="hidden" value="([^"]*)"', forgotten.text).group(1).replace("&amp;", "&") == next_url
    identifier_href = re.search(r'href="([^"]*)">identifiant oublié</a>', forgotten.text).group(1).replace("&amp;", "&")
    assert query_of(identifier_href)["next"] == next_url

    ask_reset(ent.client, "jean.dupont1", next_url)
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    done = complete(ent.client, link, temporary)
    login_url = re.search(r'<a class="fr-btn" href="([^"]*)">Se connecter</a>', done.text).group(1).replace("&amp;", "&")
    assert query_of(login_url)["next"] == next_url

    back = log_in(ent.client, "jean.dupont1", NEW_PASSWORD, next_url)
    assert back.status_code == 303 and back.location == next_url
    callback = ent.follow_to_callback(ent.client.get(back.location))
    assert callback["state"] == values["state"] and "code" in callback
