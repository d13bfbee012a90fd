"""Activation (docs/parents-journey.md, « Activation »): the emailed link (GET changes nothing,
the button activates, once, within the delay), the page of an account waiting for it, and the
ends of the deadlines."""

import html
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from idp.accounts.sweep import sweep
from idp.extensions import db
from idp.models import AccountState, OutboxMessage

from .fc_helpers import NEW_PASSWORD, SCHOOL_EMAIL, field_errors, fill_form, first_connection_done, issue_family, link_of
from .issuing_helpers import account_row
from .oidc_helpers import csrf_token
from .test_login import post_login
from .travel import french_date, frozen, in_paris, moment

DAY = timedelta(days=1)


@pytest.fixture
def issued_at():
    """Now: the family's accounts are issued then, and the test stands there until it moves time."""
    return moment()


@pytest.fixture
def traveller(issued_at):
    with frozen(issued_at) as traveller:
        yield traveller


@pytest.fixture
def family(app, establishment, traveller):
    return issue_family(app)


@pytest.fixture
def pending_client(app, family, smtp_server):
    """jean.dupont1's browser right after the first connection (logged in, pending)."""
    client = app.test_client()
    first_connection_done(app, client, "jean.dupont1", family["parent"].secret)
    return client


def _path(response):
    return urlsplit(response.location).path


def _activate(client, link):
    page = client.get(link)
    assert page.status_code == 200, page.status_code
    return client.post(link, data={"csrf_token": csrf_token(page.text), "submit": "Activer mon compte"})


def _pending_post(client, form, **data):
    """Post one of the pending page's two forms ("resend" or "correct"), whose fields are prefixed."""
    page = client.get("/activation-en-attente").text
    token = re.search(rf'name="{form}-csrf_token"[^>]*value="([^"]+)"', page)
    assert token, page
    fields = {f"{form}-{name}": value for name, value in data.items()}
    return client.post("/activation-en-attente", data={f"{form}-csrf_token": token.group(1), **fields})


def _resend(client):
    return _pending_post(client, "resend", submit="Renvoyer le courrier électronique")


def _correct(client, email, confirmation=None):
    return _pending_post(client, "correct", email=email, email_confirmation=confirmation or email, submit="Corriger l'adresse")


# --- the link -----------------------------------------------------------------------------


def test_opening_the_link_changes_nothing(app, pending_client, smtp_server):
    link = link_of(smtp_server.wait_for(1)[0])
    browser = app.test_client()
    for _ in range(2):  # a mail scanner, then the person
        page = browser.get(link)
        assert page.status_code == 200
        assert 'value="Activer mon compte"' in page.text and "jean.dupont1" in page.text
    assert account_row(app, "jean.dupont1").state == AccountState.PENDING_EMAIL


def test_the_button_activates_the_account_once(app, pending_client, smtp_server, audit_events, issued_at):
    link = link_of(smtp_server.wait_for(1)[0])
    browser = app.test_client()
    response = _activate(browser, link)
    assert response.status_code == 200
    assert "Votre compte jean.dupont1 est activé." in response.text
    assert "Aller sur L&#39;Educ de Normandie" in response.text
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.email_verified) == (AccountState.ACTIVE, True)
    assert account.activated_at == issued_at
    assert len(audit_events("account_activated")) == 1

    # Spent: neither its page nor its button work again.
    assert browser.get(link).status_code == 404
    assert "n'est plus valable" in browser.get(link).text
    assert browser.post(link, data={"csrf_token": csrf_token(browser.get("/connexion").text)}).status_code == 404


def test_a_link_after_the_activation_delay_is_refused(app, pending_client, smtp_server, traveller, issued_at):
    link = link_of(smtp_server.wait_for(1)[0])
    traveller.move_to(issued_at + app.config["ACTIVATION_DAYS"] * DAY - timedelta(minutes=1))
    assert app.test_client().get(link).status_code == 200
    traveller.shift(timedelta(minutes=2))
    assert app.test_client().get(link).status_code == 404
    assert account_row(app, "jean.dupont1").state == AccountState.PENDING_EMAIL


def test_an_unknown_link_is_refused(client):
    assert client.get("/activation/not-a-token").status_code == 404
    assert client.get("/activation/" + "x" * 300).status_code == 404


# --- while pending ----------------------------------------------------------------------------


def test_a_pending_account_stops_on_the_confirm_your_email_page_before_the_ent(app, family, ent, smtp_server):
    first_connection_done(app, ent.client, "jean.dupont1", family["parent"].secret)
    ent.new_browser()
    response, _ = ent.authorize()
    response = ent.log_in(response, "jean.dupont1", NEW_PASSWORD)
    while response.status_code in (302, 303) and _path(response) != "/activation-en-attente":
        response = ent.client.get(response.location)
    assert _path(response) == "/activation-en-attente", response.status_code
    page = ent.client.get(response.location)
    assert page.status_code == 200
    assert f"<strong>{SCHOOL_EMAIL}</strong>" in page.text
    assert "courrier indésirable" in page.text
    assert "vous ne pourrez pas vous connecter à L&#39;Educ de Normandie" in page.text
    assert 'value="Renvoyer le courrier électronique"' in page.text and 'value="Corriger l\'adresse"' in page.text


def test_the_first_connection_from_the_ent_leads_back_to_it_after_activation(app, family, ent, smtp_server):
    response, values = ent.authorize()
    response = ent.log_in(response, "jean.dupont1", family["parent"].secret)
    assert _path(response) == "/premiere-connexion"
    response = fill_form(ent.client)
    assert _path(response) == "/activation-en-attente"
    assert f"<strong>{SCHOOL_EMAIL}</strong>" in ent.client.get(response.location).text

    page = _activate(ent.client, link_of(smtp_server.wait_for(1)[0]))
    onwards = re.search(r'<a class="fr-btn" href="([^"]+)">Continuer</a>', page.text)
    assert onwards, page.text
    callback = ent.follow_to_callback(ent.client.get(html.unescape(onwards.group(1))))
    assert callback["state"] == values["state"] and "code" in callback


def test_the_provider_pages_stay_reachable_while_pending(pending_client):
    page = pending_client.get("/compte/")
    assert page.status_code == 200
    assert "jean.dupont1" in page.text
    assert 'href="/compte/"' in pending_client.get("/activation-en-attente").text


def test_resending_gives_a_new_link_and_the_older_one_dies(app, pending_client, smtp_server):
    first = link_of(smtp_server.wait_for(1)[0])
    response = _resend(pending_client)
    assert response.status_code == 303 and _path(response) == "/activation-en-attente"
    assert f"envoyé à {SCHOOL_EMAIL}" in pending_client.get(response.location).text
    second_message = smtp_server.wait_for(2)[1]
    assert second_message["To"] == SCHOOL_EMAIL
    second = link_of(second_message)
    assert second != first
    browser = app.test_client()
    assert browser.get(first).status_code == 404
    assert _activate(browser, second).status_code == 200
    assert account_row(app, "jean.dupont1").state == AccountState.ACTIVE


def test_correcting_the_address_sends_a_new_link_there(app, pending_client, smtp_server):
    first = link_of(smtp_server.wait_for(1)[0])
    response = _correct(pending_client, "jean.dupont@example.net")
    assert response.status_code == 303
    assert "<strong>jean.dupont@example.net</strong>" in pending_client.get(response.location).text
    message = smtp_server.wait_for(2)[1]
    assert message["To"] == "jean.dupont@example.net"
    browser = app.test_client()
    assert browser.get(first).status_code == 404
    assert _activate(browser, link_of(message)).status_code == 200
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.email, account.email_verified) == (AccountState.ACTIVE, "jean.dupont@example.net", True)


def test_a_bad_corrected_address_changes_nothing(app, pending_client, smtp_server):
    first = link_of(smtp_server.wait_for(1)[0])
    response = _correct(pending_client, "jean.dupont@example.net", "jean.dupont@example.com")
    assert response.status_code == 400
    assert field_errors(response.text, "correct-email_confirmation") == ["Les deux adresses mail sont différentes."]
    response = _correct(pending_client, "pas-une-adresse")
    assert field_errors(response.text, "correct-email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]
    assert account_row(app, "jean.dupont1").email == SCHOOL_EMAIL
    assert app.test_client().get(first).status_code == 200


@pytest.mark.parametrize("address", ["é@é.é", "😀@x.fr", "\u202e@x.fr", "<script>@x.fr", "claire,x@parent.example"])
def test_an_address_the_mailer_cannot_send_to_is_refused_and_nothing_queued(app, pending_client, smtp_server, address):
    smtp_server.wait_for(1)
    response = _correct(pending_client, address)
    assert response.status_code == 400
    assert field_errors(response.text, "correct-email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]
    assert account_row(app, "jean.dupont1").email == SCHOOL_EMAIL
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 1  # the first activation email


def test_a_corrected_address_with_an_international_domain_is_kept_and_sent_in_ascii(app, pending_client, smtp_server):
    smtp_server.wait_for(1)
    response = _correct(pending_client, "jean@exemple-é.fr")
    assert response.status_code == 303
    assert account_row(app, "jean.dupont1").email == "jean@xn--exemple--i1a.fr"
    smtp_server.wait_for(2)
    assert smtp_server.envelopes[-1][1] == ["jean@xn--exemple--i1a.fr"]
    assert "jean@xn--exemple--i1a.fr" in pending_client.get("/activation-en-attente").text


def test_after_activation_the_ent_login_gives_a_code(app, family, ent, smtp_server):
    first_connection_done(app, ent.client, "jean.dupont1", family["parent"].secret)
    _activate(app.test_client(), link_of(smtp_server.wait_for(1)[0]))
    ent.new_browser()
    code, _ = ent.log_in_and_get_code("jean.dupont1", NEW_PASSWORD)
    assert code


def test_the_pending_page_without_a_pending_session_goes_home(client):
    response = client.get("/activation-en-attente")
    assert response.status_code == 302


# --- the ends of the deadlines ---------------------------------------------------------------


def _sweep(app, as_of):
    with app.app_context():
        counts = sweep(as_of=as_of)
        db.session.commit()
        return counts


def test_an_expired_account_is_told_to_contact_the_establishment(app, family, traveller, issued_at):
    traveller.move_to(issued_at + app.config["ACTIVATION_DAYS"] * DAY + timedelta(hours=1))
    assert _sweep(app, None)["expired"] == 2
    response = post_login(app.test_client(), "jean.dupont1", family["parent"].secret)
    assert response.status_code == 403
    assert "Contactez l'établissement pour obtenir un nouveau mot de passe." in response.text


def test_an_account_expired_while_pending_is_told_to_contact_the_establishment(app, pending_client, traveller, issued_at):
    traveller.move_to(issued_at + app.config["ACTIVATION_DAYS"] * DAY + timedelta(hours=1))
    _sweep(app, None)
    assert account_row(app, "jean.dupont1").state == AccountState.EXPIRED
    response = post_login(app.test_client(), "jean.dupont1", NEW_PASSWORD)
    assert response.status_code == 403
    assert "Contactez l'établissement" in response.text


def test_an_invalidated_account_is_told_to_contact_the_establishment(app, pending_client, smtp_server, traveller, issued_at):
    _activate(app.test_client(), link_of(smtp_server.wait_for(1)[0]))
    config = app.config
    traveller.move_to(issued_at + (config["INACTIVITY_DAYS"] - config["INACTIVITY_WARNING_DAYS"]) * DAY + timedelta(hours=1))
    assert _sweep(app, None)["warned"] == 1
    traveller.shift(config["INACTIVITY_WARNING_DAYS"] * DAY)
    assert _sweep(app, None)["invalidated"] == 1
    response = post_login(app.test_client(), "jean.dupont1", NEW_PASSWORD)
    assert response.status_code == 403
    assert "Contactez l'établissement : il peut générer un nouveau compte." in response.text


# --- the deadlines each page and email states -----------------------------------------------


def test_the_pending_page_and_the_email_give_the_activation_deadline(app, pending_client, smtp_server, issued_at):
    deadline = french_date(in_paris(issued_at + app.config["ACTIVATION_DAYS"] * DAY).date())
    page = pending_client.get("/activation-en-attente").text
    assert f"Activez votre compte au plus tard le {deadline}." in page
    text = smtp_server.wait_for(1)[0].get_body(("plain",)).get_content()
    assert f"Ce lien est valable jusqu'au {deadline}." in text


def test_the_activated_page_and_the_account_page_give_the_inactivity_rule(app, pending_client, smtp_server):
    rule = "Un compte inutilisé pendant 12 mois est invalidé. Connectez-vous au moins une fois dans ce délai."
    done = _activate(app.test_client(), link_of(smtp_server.wait_for(1)[0]))
    assert rule in html.unescape(done.text)
    assert rule in html.unescape(pending_client.get("/compte/").text)
