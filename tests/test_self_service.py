"""« Gérer son compte » (docs/parents-journey.md, « Managing the account ») through the real
routes, emails through a real SMTP server: the home page, changing the password and the email
address, the language, the sessions with « se déconnecter partout », and the services used with
their revocation."""

import html
import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from idp.accounts.emails import masked_email
from idp.accounts.links import new_link
from idp.clock import now
from idp.extensions import db
from idp.models import Account, AccountLink, AccountState, LinkPurpose, OutboxMessage, Pupil
from idp.self_service.devices import coarse_address

from .conftest import PASSWORD
from .issuing_helpers import account_row
from .oidc_helpers import csrf_token
from .test_consent import answer, consent_page
from .test_login import post_login, set_account
from .test_tokens import userinfo
from .travel import french_date, frozen, in_paris, moment

NEW_PASSWORD = "N0uveau-secret"
HOME = "203.0.113.5"


def browser(app, address=HOME, user_agent=None):
    """A browser logged in as jean.dupont1 from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    if user_agent:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    assert post_login(client, "jean.dupont1", PASSWORD).status_code == 303
    return client


def post_form(client, path, **fields):
    """Post the form of the page at `path` with its CSRF token."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_token(page.text), **fields})


def change_password(client, current=PASSWORD, new=NEW_PASSWORD, confirmation=None):
    return post_form(client, "/compte/mot-de-passe", current_password=current, password=new, password_confirmation=confirmation or new)


def change_email(client, email="jean.nouveau@example.org", current=PASSWORD, confirmation=None):
    return post_form(client, "/compte/adresse-mail", email=email, email_confirmation=confirmation or email, current_password=current)


def field_errors(response, name):
    """The messages shown under a field of the page."""
    block = re.search(rf'<div class="fr-messages-group" id="{name}-messages">(.*?)</div>', response.text, re.S)
    if block is None:
        return []
    return [html.unescape(text) for text in re.findall(r'<p class="fr-message fr-message--error">(.*?)</p>', block.group(1))]


def text_of(message):
    return message.get_body(("plain",)).get_content()


def link_in(message):
    (link,) = re.findall(r"http://localhost(/compte/adresse-mail/[\w-]+)", text_of(message))
    return link


def outbox(app):
    with app.app_context():
        return [(row.recipient, row.template) for row in db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))]


# --- the home page ----------------------------------------------------------------------------


def test_home_page_offers_the_login_form_to_a_visitor(client, parent):
    page = client.get("/")
    assert page.status_code == 200
    assert 'action="/connexion"' in page.text
    assert re.search(r'<label [^>]*for="identifier"[^>]*>Identifiant<span aria-hidden="true">&nbsp;\*</span></label>', page.text)
    assert re.search(r'<label [^>]*for="password"[^>]*>Mot de passe<span aria-hidden="true">&nbsp;\*</span></label>', page.text)
    assert ">mot de passe oublié</a>" in page.text and ">identifiant oublié</a>" in page.text
    login = client.post("/connexion", data={"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(page.text)})
    assert login.status_code == 303
    assert urlsplit(login.location).path == "/compte/"


def test_home_page_leads_a_logged_in_person_to_manage_their_account(app, parent):
    client = browser(app)
    page = client.get("/")
    assert page.status_code == 200
    assert "Jean Dupont (jean.dupont1)" in page.text
    assert '<a class="fr-btn" href="/compte/">Gérer son compte</a>' in page.text
    assert 'href="https://www.l-educdenormandie.fr/"' in page.text
    assert 'name="password"' not in page.text


def test_home_page_of_a_pending_account_leads_to_its_activation(app, parent):
    set_account(app, "jean.dupont1", state=AccountState.PENDING_EMAIL)
    page = browser(app).get("/")
    assert "Votre compte n'est pas encore activé" in page.text
    assert 'href="/activation-en-attente"' in page.text
    assert "l-educdenormandie.fr" not in page.text


# --- what the account page shows --------------------------------------------------------------


def test_account_page_shows_the_children_with_their_school_and_class(app, make_account, parent):
    with app.app_context():
        db.session.scalar(db.select(Pupil).where(Pupil.given_name == "Alice")).class_name = "4e B"
        db.session.commit()
    page = browser(app).get("/compte/").text
    assert "Alice Dupont – Collège Jean Moulin, classe 4e B" in page
    assert 'href="/compte/mot-de-passe"' in page and 'href="/compte/adresse-mail"' in page


def test_a_pupil_sees_their_own_school(app, pupil_account):
    client = app.test_client()
    post_login(client, "alice.martin1", "Cartable-2024")
    page = client.get("/compte/").text
    assert "Votre établissement" in page and "Collège Jean Moulin" in page


def test_sessions_read_as_device_date_and_coarse_address(app, parent):
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0"
    logged_in_at = moment(paris="10:00")
    with frozen(logged_in_at):
        browser(app, "198.51.100.23", firefox)
    with frozen(logged_in_at + timedelta(minutes=30)):
        page = browser(app).get("/compte/").text
    assert "<strong>Firefox sur Windows</strong>" in page
    assert f"Connecté depuis le {french_date(in_paris(logged_in_at).date())} 10:00" in page  # Paris time
    assert "adresse réseau 198.51.100.…" in page
    assert "198.51.100.23" not in page


@pytest.mark.parametrize(
    ("ip", "shown"),
    [
        ("203.0.113.5", "203.0.113.…"),
        ("2001:db8:85a3:1:2:3:4:5", "2001:db8:85a3:…"),
        ("2001:0db8:0000::1", "2001:db8:0:…"),
        ("::ffff:192.0.2.7", "192.0.2.…"),
        ("", ""),
        ("n'importe quoi", ""),
    ],
)
def test_an_address_is_shown_in_its_coarse_form(ip, shown):
    assert coarse_address(ip) == shown


def test_account_pages_need_a_login(client):
    for path in ("/compte/", "/compte/mot-de-passe", "/compte/adresse-mail"):
        response = client.get(path)
        assert response.status_code == 302
        assert urlsplit(response.location).path == "/connexion"


def test_account_forms_need_the_csrf_token(app, parent):
    client = browser(app)
    for path, data in (
        ("/compte/mot-de-passe", {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}),
        ("/compte/adresse-mail", {"email": "x@example.org", "email_confirmation": "x@example.org", "current_password": PASSWORD}),
        ("/compte/langue", {"language": "en"}),
        ("/compte/deconnexion-partout", {}),
    ):
        assert client.post(path, data=data).status_code == 400, path
    assert client.get("/compte/").status_code == 200
    assert account_row(app).language == "fr"
    assert post_login(app.test_client(), "jean.dupont1", PASSWORD).status_code == 303


# --- changing the password --------------------------------------------------------------------


def test_password_change_keeps_this_session_ends_the_others_and_revokes_refresh_tokens(app, ent, parent, smtp_server, audit_events, caplog):
    caplog.set_level(logging.INFO)
    online, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile")
    offline, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    other = browser(app, "198.51.100.23")
    with app.app_context():
        new_link(db.session.get(Account, parent.id), LinkPurpose.PASSWORD_RESET, "jean@example.org", now() + timedelta(hours=1))
        db.session.commit()

    response = change_password(ent.client)
    assert response.status_code == 303
    page = ent.client.get(response.location)
    assert "Votre mot de passe a été changé." in page.text

    assert ent.client.get("/compte/").status_code == 200  # this session stays
    assert urlsplit(other.get("/compte/").location).path == "/connexion"  # the other one ended
    assert userinfo(ent, online["access_token"]).status_code == 200  # this session's own token stays
    assert ent.refresh(offline["refresh_token"]).status_code == 400  # refresh tokens revoked
    assert post_login(app.test_client(), "jean.dupont1", PASSWORD).status_code == 200
    assert post_login(app.test_client(), "jean.dupont1", NEW_PASSWORD).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(AccountLink).where(AccountLink.purpose == LinkPurpose.PASSWORD_RESET)) is None

    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "jean@example.org"
    assert message["Subject"] == "Votre mot de passe a été changé"
    body = text_of(message)
    assert "Le mot de passe de votre compte Téléservices jean.dupont1 a été changé le" in body
    assert "« mot de passe oublié »" in body and "http://localhost/mot-de-passe-oublie" in body
    assert "contactez l'établissement" in body
    assert "mot de passe oublié" in message.get_body(("html",)).get_content()

    (event,) = audit_events("password_changed")
    assert event.account_id == parent.id
    assert event.details["sessions_ended"] == 1 and event.details["tokens_revoked"] >= 1
    for secret in (PASSWORD, NEW_PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in str(item.details) for item in audit_events())


def test_wrong_current_password_is_refused_then_throttled(app, parent, audit_events):
    with frozen() as traveller:
        client = browser(app)
        for _ in range(5):
            refused = change_password(client, current="Wrong-pass1")
            assert refused.status_code == 400
            assert field_errors(refused, "current_password") == ["Le mot de passe actuel est incorrect."]
        throttled = change_password(client)  # even the right one waits
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "60"
        assert field_errors(throttled, "current_password") == ["Trop de tentatives. Réessayez dans 1 minute."]
        assert post_login(app.test_client(), "jean.dupont1", PASSWORD).status_code == 303  # unchanged, and the login is its own pair
        traveller.shift(60)
        assert change_password(client).status_code == 303
    assert len(audit_events("password_change_wrong_password")) == 5
    assert audit_events("password_change_throttled")[0].details == {"retry_after": 60}
    assert len(audit_events("password_changed")) == 1


@pytest.mark.parametrize(
    ("new", "confirmation", "field", "message"),
    [
        ("abc123", None, "password", "Le mot de passe doit comporter au moins 8 caractères."),
        ("abcdefghij", None, "password", "Le mot de passe doit comporter au moins un chiffre."),
        ("xjean.dupont1x", None, "password", "Le mot de passe ne doit pas contenir votre identifiant."),
        ("Alice-2024x", None, "password", "Le mot de passe ne doit pas contenir votre nom ni celui de votre enfant."),
        ("Bonjour-04052012", None, "password", "Le mot de passe ne doit pas contenir de date, comme une date de naissance."),
        (NEW_PASSWORD, "N0uveau-secreT", "password_confirmation", "Les deux mots de passe sont différents."),
        (PASSWORD, None, "password", "Choisissez un mot de passe différent de l'actuel."),
    ],
)
def test_new_password_follows_the_first_connection_rules(app, parent, new, confirmation, field, message):
    client = browser(app)
    refused = change_password(client, new=new, confirmation=confirmation)
    assert refused.status_code == 400
    assert message in field_errors(refused, field)
    assert post_login(app.test_client(), "jean.dupont1", PASSWORD).status_code == 303


def test_empty_password_form_is_explained(app, parent):
    client = browser(app)
    refused = post_form(client, "/compte/mot-de-passe", current_password="", password="", password_confirmation="")
    assert refused.status_code == 400
    assert field_errors(refused, "current_password") == ["Ce champ est obligatoire."]


# --- changing the email address ---------------------------------------------------------------


def test_new_address_replaces_the_old_one_only_once_its_link_is_confirmed(app, parent, smtp_server, audit_events, caplog):
    caplog.set_level(logging.DEBUG, logger="idp")
    client = browser(app)
    response = change_email(client)
    assert response.status_code == 303
    assert "Un courrier électronique a été envoyé à jean.nouveau@example.org." in client.get(response.location).text
    (confirmation,) = smtp_server.wait_for(1)
    assert confirmation["To"] == "jean.nouveau@example.org"
    assert confirmation["Subject"] == "Confirmez votre nouvelle adresse mail"
    assert "Ce lien est valable jusqu'au" in text_of(confirmation)
    assert account_row(app).email == "jean@example.org"  # not yet
    assert "Nouvelle adresse en attente de confirmation : jean.nouveau@example.org" in client.get("/compte/").text

    link = link_in(confirmation)
    reader = app.test_client()  # the link may be opened anywhere, logged in or not
    page = reader.get(link)
    assert page.status_code == 200
    assert "jean.nouveau@example.org" in page.text and 'value="Confirmer l\'adresse"' in page.text
    assert account_row(app).email == "jean@example.org"  # opening the link changes nothing
    done = reader.post(link, data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200
    assert "L'adresse mail du compte jean.dupont1 est maintenant jean.nouveau@example.org." in done.text
    account = account_row(app)
    assert (account.email, account.email_verified) == ("jean.nouveau@example.org", True)

    messages = smtp_server.wait_for(2)
    told = messages[1]
    assert told["To"] == "jean@example.org"
    assert told["Subject"] == "L'adresse de votre compte a été changée"
    assert "Les courriers du compte iront désormais à j…@example.org" in text_of(told)
    assert "jean.nouveau@" not in text_of(told)
    assert "contactez l'établissement" in text_of(told)

    assert reader.get(link).status_code == 404  # single use
    assert "Ce lien n'est plus valable" in reader.get(link).text
    assert [event.event for event in audit_events() if event.event.startswith("email_")] == ["email_change_requested", "email_changed"]
    assert all("example.org" not in str(event.details) for event in audit_events())
    token = link.rsplit("/", 1)[1]
    ours = " ".join(record.getMessage() for record in caplog.records if record.name.startswith("idp"))
    assert "email_changed" in ours
    assert token not in ours and token not in str(audit_events())


def test_email_change_link_expires_after_seven_days(app, parent, smtp_server):
    with frozen() as traveller:
        change_email(browser(app))
        link = link_in(smtp_server.wait_for(1)[0])
        traveller.shift(timedelta(days=7) - timedelta(seconds=1))
        assert app.test_client().get(link).status_code == 200
        traveller.shift(1)
        assert app.test_client().get(link).status_code == 404
    assert account_row(app).email == "jean@example.org"


def test_a_newer_email_change_link_replaces_the_older(app, parent, smtp_server):
    client = browser(app)
    change_email(client, "premiere@example.org")
    change_email(client, "seconde@example.org")
    # Two background threads send: the emails may arrive in either order.
    first, second = sorted(smtp_server.wait_for(2), key=lambda message: message["To"] != "premiere@example.org")
    assert app.test_client().get(link_in(first)).status_code == 404
    assert app.test_client().get(link_in(second)).status_code == 200


@pytest.mark.parametrize("email", ['new"x@parent.example', "é@é.é", "😀@x.fr", "\u202e@x.fr", "<script>@x.fr", "claire,x@parent.example"])
def test_email_change_to_an_address_the_mailer_cannot_send_to_is_refused(app, parent, email):
    response = change_email(browser(app), email)
    assert response.status_code == 400
    assert field_errors(response, "email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]
    assert outbox(app) == []


def test_email_change_needs_the_current_password_and_a_valid_address(app, parent, audit_events):
    client = browser(app)
    refused = change_email(client, current="Wrong-pass1")
    assert refused.status_code == 400
    assert field_errors(refused, "current_password") == ["Le mot de passe actuel est incorrect."]
    assert field_errors(change_email(client, "pas-une-adresse"), "email") == [
        "Saisissez une adresse mail valide, par exemple nom@exemple.fr."
    ]
    assert field_errors(change_email(client, "a@example.org", confirmation="b@example.org"), "email_confirmation") == [
        "Les deux adresses mail sont différentes."
    ]
    assert field_errors(change_email(client, "JEAN@example.org"), "email") == ["C'est déjà l'adresse de votre compte."]
    assert outbox(app) == []
    assert len(audit_events("email_change_wrong_password")) == 1


def test_email_change_requests_are_bounded_per_address(settings, make_app, parent):
    app = make_app(settings | {"THROTTLE_RECOVERY_PER_IP": "2 per hour"})
    client = browser(app)
    assert change_email(client, "un@example.org").status_code == 303
    assert change_email(client, "deux@example.org").status_code == 303
    refused = change_email(client, "trois@example.org")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert field_errors(refused, "email")[0].startswith("Trop de tentatives.")
    assert [recipient for recipient, _ in outbox(app)] == ["un@example.org", "deux@example.org"]


def test_email_confirmations_are_bounded_per_address(settings, make_app, make_account, parent, smtp_server):
    app = make_app(settings | {"THROTTLE_RECOVERY_PER_IP": "1 per hour"})
    make_account(given_name="Marie", family_name="Curie", email="marie@example.org")
    change_email(browser(app, "198.51.100.1"), "jean.nouveau@example.org")
    marie = app.test_client()
    marie.environ_base["REMOTE_ADDR"] = "198.51.100.2"
    post_login(marie, "marie.curie1", PASSWORD)
    change_email(marie, "marie.nouveau@example.org")
    links = {message["To"]: link_in(message) for message in smtp_server.wait_for(2)}
    opener = app.test_client()  # one address opens both links
    for address, status in (("jean.nouveau@example.org", 200), ("marie.nouveau@example.org", 429)):
        page = opener.get(links[address])
        response = opener.post(links[address], data={"csrf_token": csrf_token(page.text)})
        assert response.status_code == status
    assert "Trop de tentatives." in response.text
    assert account_row(app, "marie.curie1").email == "marie@example.org"


def test_email_change_link_stops_working_when_the_account_is_no_longer_active(app, parent, smtp_server):
    change_email(browser(app))
    link = link_in(smtp_server.wait_for(1)[0])
    set_account(app, "jean.dupont1", state=AccountState.INVALIDATED)
    assert app.test_client().get(link).status_code == 404


def test_a_pending_account_corrects_its_address_on_the_activation_page(app, parent):
    set_account(app, "jean.dupont1", state=AccountState.PENDING_EMAIL)
    client = browser(app)
    assert 'href="/compte/adresse-mail"' not in client.get("/compte/").text
    response = client.get("/compte/adresse-mail")
    assert urlsplit(response.location).path == "/activation-en-attente"


# --- the language -----------------------------------------------------------------------------


def test_language_choice_sets_the_pages_and_the_emails_of_the_account(app, parent, smtp_server):
    client = browser(app)
    page = client.get("/compte/")
    assert re.search(r'<label class="fr-label" for="language">Langue des pages et des courriers</label>', page.text)
    response = client.post("/compte/langue", data={"csrf_token": csrf_token(page.text), "language": "en"})
    assert response.status_code == 303
    page = client.get("/compte/")
    assert "<h1>Manage your account</h1>" in page.text
    assert account_row(app).language == "en"
    assert client.post("/compte/langue", data={"csrf_token": csrf_token(page.text), "language": "xx"}).status_code == 400
    assert account_row(app).language == "en"

    change_password(client)
    (message,) = smtp_server.wait_for(1)
    assert message["Subject"] == "Your password was changed"


# --- sessions and services --------------------------------------------------------------------


def test_log_out_everywhere_ends_every_session_and_every_token(app, ent, parent, audit_events):
    online, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile")
    offline, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    other = browser(app, "198.51.100.23")
    page = ent.client.get("/compte/")
    response = ent.client.post("/compte/deconnexion-partout", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.text
    assert "Toutes les sessions de votre compte sont fermées" in response.text
    for each in (ent.client, other):
        assert urlsplit(each.get("/compte/").location).path == "/connexion"
    assert userinfo(ent, online["access_token"]).status_code == 401
    assert ent.refresh(offline["refresh_token"]).status_code == 400
    (event,) = audit_events("logged_out_everywhere")
    assert event.details["sessions_ended"] == 2


def test_services_list_consents_and_offline_access_and_revoking_one_kills_its_refresh_token(app, ent, make_rp, parent, audit_events):
    canteen = make_rp("Cantine en ligne", category="teleservice", trusted=False)
    page, _ = consent_page(canteen, scope="openid profile offline_access")
    callback = answer(canteen, page, "allow")
    code = canteen.follow_to_callback(callback)["code"]
    canteen_tokens = canteen.exchange(code).json
    ent_tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")

    page = canteen.client.get("/compte/").text
    assert "<strong>Cantine en ligne</strong>" in page and "<strong>L&#39;Educ de Normandie</strong>" in page
    assert "Autorisé le" in page and "accès hors connexion depuis le" in page

    response = canteen.client.post(f"/compte/services/{canteen.client_id}/retrait", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert "L&#39;accès de Cantine en ligne à votre compte est retiré." in canteen.client.get("/compte/").text
    assert canteen.refresh(canteen_tokens["refresh_token"]).status_code == 400
    assert ent.refresh(ent_tokens["refresh_token"]).status_code == 200  # the other service keeps its access
    again, _ = consent_page(canteen)
    assert "Autoriser" in again.text  # the consent is asked again
    (event,) = audit_events("service_revoked")
    assert event.client_id == canteen.client_id and event.details["consent"] is True

    page = canteen.client.get("/compte/").text
    assert "Cantine en ligne" not in page
    assert canteen.client.post(f"/compte/services/{canteen.client_id}/retrait", data={"csrf_token": csrf_token(page)}).status_code == 404
    assert canteen.client.post("/compte/services/inconnu/retrait", data={"csrf_token": csrf_token(page)}).status_code == 404


def test_no_service_is_listed_without_consent_or_offline_access(app, ent, parent):
    ent.full_login("jean.dupont1", PASSWORD, scope="openid profile")
    page = ent.client.get("/compte/").text
    assert "Aucun service n'a d'autorisation ni d'accès hors connexion à votre compte." in page


def test_masked_email_keeps_only_the_first_letter_and_the_domain():
    assert masked_email("jean.nouveau@example.org") == "j…@example.org"


def test_ids_beyond_an_integer_column_are_unknown_pages(client, parent):
    """The account page's session and SAML service addresses take a row's id (urls.RowId): a
    larger number is a 404, never a statement the database refuses."""
    assert post_login(client, parent.identifier, PASSWORD).status_code == 303
    token = csrf_token(client.get("/compte/").text)
    for path in (f"/compte/sessions/{2**31}/fin", f"/compte/services/saml/{2**31}/retrait", "/compte/services/saml/0/retrait"):
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 404, path
