"""First connection (docs/parents-journey.md, « First connection »): from the letter's secret to
a chosen password, a confirmed email to come and the birth date checked; every rule of the form
and its message."""

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest

from idp.accounts.lifecycle import regenerate
from idp.accounts.passwords import contains_date
from idp.extensions import db
from idp.models import Account, AccountState

from .fc_helpers import (
    NEW_PASSWORD,
    SCHOOL_EMAIL,
    field_errors,
    fill_form,
    first_connection_done,
    issue_family,
    link_of,
    start_first_connection,
)
from .issuing_helpers import account_row, add_pupil, issue
from .oidc_helpers import csrf_token
from .test_login import post_login
from .travel import frozen


@pytest.fixture
def family(app, establishment):
    return issue_family(app)


@pytest.fixture
def parent_client(app, family):
    """A browser just logged in with jean.dupont1's letter, on the first-connection form."""
    return start_first_connection(app.test_client(), "jean.dupont1", family["parent"].secret)


# --- the form -------------------------------------------------------------------------


def test_the_form_shows_the_words_of_the_guide(parent_client):
    page = parent_client.get("/premiere-connexion").text
    assert "<h1>Première connexion</h1>" in page
    assert "Vos informations" in page
    assert "<strong>jean.dupont1</strong>" in page
    for name, label in (
        ("password", "nouveau mot de passe"),
        ("password_confirmation", "confirmation du mot de passe"),
        ("email", "adresse mail"),
        ("email_confirmation", "confirmation de l'adresse mail"),
        ("birth_date", "date de naissance"),
    ):
        # The label keeps the guide's words; its asterisk marks the field as required.
        assert re.search(rf'<label [^>]*for="{name}"[^>]*>{label}<span aria-hidden="true">&nbsp;\*</span></label>', page), name
    assert "(8 caractères minimum, chiffres ET lettres obligatoires)" in page
    assert "Votre enfant : Alice Dupont" in page
    assert "* Champs obligatoires" in page
    assert 'value="Valider"' in page


def test_the_school_file_address_is_a_suggestion_in_the_first_field_only(parent_client):
    """« Entrez votre adresse mail et confirmez-la »: the confirmation is the person's own."""
    page = parent_client.get("/premiere-connexion").text
    assert "Entrez votre adresse mail et confirmez-la." in page
    assert re.search(rf'<input [^>]*id="email"[^>]*value="{SCHOOL_EMAIL}"', page)
    assert "Adresse transmise par l'établissement : vérifiez-la ou remplacez-la." in page
    confirmation = re.search(r'<input [^>]*id="email_confirmation"[^>]*>', page).group(0)
    assert "value=" not in confirmation or 'value=""' in confirmation


def test_without_a_school_file_address_nothing_is_suggested(app, establishment):
    add_pupil(app, "0140001A", "Léa", "Petit", "6B", [("Marc", "Petit")], birth_date=date(2012, 6, 1))
    parent = next(each for each in issue(app) if each.kind == "parent")
    client = start_first_connection(app.test_client(), parent.identifier, parent.secret)
    page = client.get("/premiere-connexion").text
    assert "Adresse transmise par" not in page
    assert re.search(r'<input [^>]*id="email"[^>]*>', page).group(0).count('value="') <= 1


def test_a_pupil_gives_their_own_birth_date(app, family):
    client = start_first_connection(app.test_client(), family["eleve"].identifier, family["eleve"].secret)
    page = client.get("/premiere-connexion").text
    assert "Votre date de naissance" in page and "Votre enfant" not in page
    response = fill_form(
        client,
        email="alice@example.org",
        email_confirmation="alice@example.org",
        password="Cahier-7788",
        password_confirmation="Cahier-7788",
    )
    assert response.status_code == 303
    assert account_row(app, family["eleve"].identifier).state == AccountState.PENDING_EMAIL


# --- each rule, its message by its field -------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ab3-xyz", "Le mot de passe doit comporter au moins 8 caractères."),
        ("Sans-chiffre-ici", "Le mot de passe doit comporter au moins un chiffre."),
        ("1234-5678-90", "Le mot de passe doit comporter au moins une lettre."),
        ("Mon-jean.dupont1", "Le mot de passe ne doit pas contenir votre identifiant."),
        ("JEAN.DUPONT1-xyz", "Le mot de passe ne doit pas contenir votre identifiant."),
        ("Cle-Alice-2024", "Le mot de passe ne doit pas contenir votre nom ni celui de votre enfant."),
        ("Rue-dupont-77", "Le mot de passe ne doit pas contenir votre nom ni celui de votre enfant."),
        ("Tulipe14032013", "Le mot de passe ne doit pas contenir de date, comme une date de naissance."),
        ("Tulipe-2013-03-14", "Le mot de passe ne doit pas contenir de date, comme une date de naissance."),
    ],
)
def test_each_password_rule_has_its_message(app, parent_client, password, message):
    response = fill_form(parent_client, password=password, password_confirmation=password)
    assert response.status_code == 400
    assert message in field_errors(response.text, "password")
    assert account_row(app, "jean.dupont1").state == AccountState.ISSUED


def test_a_name_of_any_length_is_refused(app, establishment):
    add_pupil(app, "0140001A", "Éa", "Ly", "6A", [("Bo", "Ly")], birth_date=date(2012, 1, 2))
    parent = next(each for each in issue(app) if each.kind == "parent")
    client = start_first_connection(app.test_client(), parent.identifier, parent.secret)
    for password in ("Table-LY-2024", "Table-bo-2024", "Table-ea-2024"):
        response = fill_form(client, password=password, password_confirmation=password, birth_date="02/01/2012")
        assert field_errors(response.text, "password") == ["Le mot de passe ne doit pas contenir votre nom ni celui de votre enfant."]


def test_the_identifier_is_compared_whole_dots_included(app, parent_client):
    # Without its dot it is not the identifier (the names still are, which is another rule).
    response = fill_form(parent_client, password="xjeandupont1x", password_confirmation="xjeandupont1x")
    assert "Le mot de passe ne doit pas contenir votre identifiant." not in field_errors(response.text, "password")


def test_two_different_passwords_are_refused(parent_client):
    response = fill_form(parent_client, password_confirmation="Soleil-2024y")
    assert response.status_code == 400
    assert field_errors(response.text, "password_confirmation") == ["Les deux mots de passe sont différents."]
    assert field_errors(response.text, "password") == []


def test_two_different_emails_are_refused(parent_client):
    response = fill_form(parent_client, email="jean@example.org", email_confirmation="jeanne@example.org")
    assert response.status_code == 400
    assert field_errors(response.text, "email_confirmation") == ["Les deux adresses mail sont différentes."]


@pytest.mark.parametrize("email", ["é@é.é", "😀@x.fr", "\u202e@x.fr", "claire,x@parent.example", "<script>@x.fr", 'new"x@parent.example'])
def test_an_address_the_mailer_cannot_send_to_is_refused_and_nothing_changes(app, parent_client, email):
    response = fill_form(parent_client, email=email, email_confirmation=email)
    assert response.status_code == 400
    assert field_errors(response.text, "email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.email) == (AccountState.ISSUED, None)


@pytest.mark.parametrize("email", ["jean.example.org", "jean@example", "jean dupont@example.org", "@example.org"])
def test_an_email_that_is_not_an_address_is_refused(parent_client, email):
    response = fill_form(parent_client, email=email, email_confirmation=email)
    assert response.status_code == 400
    assert field_errors(response.text, "email") == ["Saisissez une adresse mail valide, par exemple nom@exemple.fr."]


def test_empty_fields_are_required(parent_client):
    response = fill_form(parent_client, password="", password_confirmation="", email="", email_confirmation="", birth_date="")
    assert response.status_code == 200
    for name in ("password", "password_confirmation", "email", "email_confirmation", "birth_date"):
        assert field_errors(response.text, name) == ["Ce champ est obligatoire."], name


def test_bad_input_changes_nothing(app, family, parent_client, smtp_server):
    response = fill_form(parent_client, password="court", password_confirmation="court", email="x", email_confirmation="y")
    assert response.status_code == 400
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.password_hash, account.email, account.first_connection_at) == (AccountState.ISSUED, None, None, None)
    # The letter's secret still opens the form, and no email went out.
    start_first_connection(app.test_client(), "jean.dupont1", family["parent"].secret)
    assert smtp_server.messages == []


# --- the birth date -----------------------------------------------------------------------


def test_a_wrong_birth_date_is_refused_and_counted(app, parent_client, audit_events):
    response = fill_form(parent_client, birth_date="15/03/2013")
    assert response.status_code == 400
    assert field_errors(response.text, "birth_date") == ["La date de naissance ne correspond pas."]
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.birth_date_failures) == (AccountState.ISSUED, 1)
    assert len(audit_events("first_connection_birth_date_failed")) == 1


def test_a_date_that_is_not_one_asks_for_the_format(app, parent_client):
    response = fill_form(parent_client, birth_date="31/02/2013")
    assert field_errors(response.text, "birth_date") == ["Saisissez la date de naissance au format JJ/MM/AAAA."]
    assert account_row(app, "jean.dupont1").birth_date_failures == 0


@pytest.mark.parametrize("typed", ["14/03/2013", "2013-03-14"])
def test_the_birth_date_is_accepted_as_typed_or_from_a_date_input(app, parent_client, typed):
    assert fill_form(parent_client, birth_date=typed).status_code == 303
    assert account_row(app, "jean.dupont1").state == AccountState.PENDING_EMAIL


def test_five_wrong_birth_dates_block_the_account_until_it_is_regenerated(app, family, parent_client, audit_events):
    for attempt in range(4):
        assert fill_form(parent_client, birth_date=f"0{attempt + 1}/01/2013").status_code == 400
    response = fill_form(parent_client, birth_date="05/01/2013")
    assert response.status_code == 403
    assert "Votre compte est bloqué" in response.text
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.blocked_reason, account.birth_date_failures) == (AccountState.BLOCKED, "birth_date", 5)
    assert [event.details for event in audit_events("account_blocked")] == [{"reason": "birth_date"}]

    # The form is gone, and the letter's secret now shows the blocked page.
    assert urlsplit(parent_client.get("/premiere-connexion").location).path == "/connexion"
    response = post_login(app.test_client(), "jean.dupont1", family["parent"].secret)
    assert response.status_code == 403
    assert "Contactez l'établissement" in response.text
    # The reason stands in the page's alert (not an empty box above it).
    assert re.search(r'<div class="fr-alert fr-alert--warning[^"]*">\s*<p>Votre compte est bloqué', response.text)

    with app.app_context():
        secret = regenerate(db.session.scalar(db.select(Account).where(Account.identifier == "jean.dupont1"))).secret
        db.session.commit()
    # The new letter reaches the family the next day, when the throttle has forgotten the
    # wrong answers of this address.
    with frozen(days=1, hours=1):
        client = start_first_connection(app.test_client(), "jean.dupont1", secret)
        assert fill_form(client).status_code == 303
    assert account_row(app, "jean.dupont1").state == AccountState.PENDING_EMAIL


# --- success ------------------------------------------------------------------------------


def test_success_waits_for_the_email_and_changes_the_credential(app, family, smtp_server, audit_events):
    client = app.test_client()
    first_connection_done(
        app, client, "jean.dupont1", family["parent"].secret, email="jean.d@example.org", email_confirmation="Jean.D@example.org"
    )
    account = account_row(app, "jean.dupont1")
    assert (account.state, account.email, account.email_verified) == (AccountState.PENDING_EMAIL, "jean.d@example.org", False)
    assert account.first_connection_at is not None and account.provisional_secret_hash is None

    # The letter's secret is dead; the new password opens the provider's pages.
    response = post_login(app.test_client(), "jean.dupont1", family["parent"].secret)
    assert "Identifiant ou mot de passe incorrect." in response.text
    response = post_login(app.test_client(), "jean.dupont1", NEW_PASSWORD)
    assert response.status_code == 303 and urlsplit(response.location).path == "/compte/"

    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "jean.d@example.org"
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
    assert NEW_PASSWORD not in message.as_string()
    assert link_of(message).startswith("http://localhost/activation/")
    assert [event.event for event in audit_events() if event.event in ("first_connection", "activation_sent")] == [
        "first_connection",
        "activation_sent",
    ]
    assert not any(NEW_PASSWORD in str(event.details) for event in audit_events())


def test_the_form_is_gone_after_success(app, family):
    client = app.test_client()
    first_connection_done(app, client, "jean.dupont1", family["parent"].secret)
    assert urlsplit(client.get("/premiere-connexion").location).path == "/connexion"


# --- the way in ----------------------------------------------------------------------------


def test_the_form_without_the_letter_login_goes_to_the_login_page(client, family):
    response = client.get("/premiere-connexion")
    assert response.status_code == 302 and urlsplit(response.location).path == "/connexion"
    token = csrf_token(client.get("/connexion").text)
    response = client.post("/premiere-connexion", data={"password": NEW_PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and urlsplit(response.location).path == "/connexion"


def test_the_form_waits_half_an_hour_after_the_letter_login(app, family):
    with frozen() as traveller:
        client = start_first_connection(app.test_client(), "jean.dupont1", family["parent"].secret)
        traveller.shift(timedelta(minutes=29))
        assert client.get("/premiere-connexion").status_code == 200
        traveller.shift(timedelta(minutes=2))
        response = client.get("/premiere-connexion")
        assert response.status_code == 302 and urlsplit(response.location).path == "/connexion"


def test_the_letter_login_from_a_relying_party_leads_to_the_form(app, family, ent):
    response, _ = ent.authorize()
    response = ent.log_in(response, "jean.dupont1", family["parent"].secret)
    assert response.status_code == 303 and urlsplit(response.location).path == "/premiere-connexion"
    assert "Votre enfant : Alice Dupont" in ent.client.get(response.location).text


def test_the_password_rule_tells_nothing_about_the_real_birth_date(app, parent_client):
    """The probe's oracle: candidate dates packed into the password, the birth date left
    unreadable so that nothing counts. Every date is refused alike, the child's or not."""
    answers = []
    for candidate in ("Tulipe14032013", "Tulipe15032013", "Tulipe-2013-03-14", "Tulipe-2011-07-01"):
        response = fill_form(parent_client, password=candidate, password_confirmation=candidate, birth_date="pas une date")
        assert response.status_code == 400
        answers.append((field_errors(response.text, "password"), field_errors(response.text, "birth_date")))
    assert len(set(map(repr, answers))) == 1
    assert answers[0][0] == ["Le mot de passe ne doit pas contenir de date, comme une date de naissance."]
    assert account_row(app, "jean.dupont1").birth_date_failures == 0


@pytest.mark.parametrize(
    ("password", "has_date"),
    [
        ("Soleil-2024x", False),
        ("Rue75011paris", False),
        ("Code123456ab", False),  # 12/34/56 is no date
        ("Code010203ab", True),  # 01/02/03
        ("Ete-29-02-2024", True),
        ("Ete-30-02-2024", False),
        ("Nuit19991231", True),
    ],
)
def test_a_date_is_any_calendar_date_in_the_password_digits(app, password, has_date):
    assert contains_date(password) is has_date
