"""The one rule of an email address (idp.email_address, through idp.accounts.addresses):
what the forms, the imports and the mailer accept, and the form it is stored in."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from idp.accounts.addresses import address_problems, canonical_email, email_problems, is_email
from idp.accounts.sweep import sweep
from idp.clock import now
from idp.email_address import canonical, shown
from idp.extensions import db
from idp.models import Account, OutboxMessage, StaffMember, StaffRole
from idp.staff_accounts.members import find_staff

from .fc_helpers import field_errors, first_connection_done, issue_family
from .oidc_helpers import csrf_token

DAY = timedelta(days=1)

# What the attacker's probe typed, and what earlier let a page answer 500.
PROBES = ["é@é.é", "😀@x.fr", "\u202e@x.fr", "claire,x@parent.example", 'new"x@parent.example', "<script>@x.fr"]


@pytest.mark.parametrize(
    "address",
    [
        "jean@example.org",
        "Jean.Dupont@Example.ORG",
        "jean.dupont+ecole@mail.example.fr",
        "o'brien@example.ie",
        "a_b-c@sub-domain.example.co.uk",
        "x#y$z&w*v/u=t?s^r{q}p~o@example.org",
        "1234@example.org",
        "jean@xn--exemple--i1a.fr",
        "a" * 64 + "@example.org",
    ],
)
def test_addresses_the_rule_accepts(address):
    assert is_email(address)
    assert canonical(address) == address  # ASCII already: stored as typed


@pytest.mark.parametrize(
    "address",
    [
        *PROBES,
        "",
        "jean",
        "jean@",
        "@example.org",
        "jean@example",
        "jean@example.",
        "jean@example.org.",
        "jean@.example.org",
        "jean@example..org",
        "jean@-example.org",
        "jean@example-.org",
        "jean@example.123",
        "jean@[192.0.2.1]",
        ".jean@example.org",
        "jean.@example.org",
        "je..an@example.org",
        '"jean"@example.org',
        "jean dupont@example.org",
        "jean@exam ple.org",
        " jean@example.org",
        "jean@example.org\n",
        "jean@example.org\nBcc: x@example.org",
        "jean\t@example.org",
        "jean@exa\u200bmple.org",  # zero-width space
        "jean@exemple\u202e.fr",  # bidi override in the domain
        "jean\x00@example.org",
        "jean@example.org, marie@example.org",
        "Jean <jean@example.org>",
        "jean@marie@example.org",
        "andré@example.org",
        "jean@😀.fr",
        "bang!path@example.org",
        "percent%hack@example.org",
        "pipe|x@example.org",
        "back`tick@example.org",
        "a" * 65 + "@example.org",
        "jean@" + "a" * 64 + ".fr",
        "jean@" + ".".join(["a" * 60] * 5) + ".fr",
        None,
        42,
    ],
)
def test_addresses_the_rule_refuses(address):
    assert canonical(address) is None
    if isinstance(address, str):
        assert not is_email(address)


def test_an_international_domain_is_stored_in_ascii():
    assert canonical("jean@exemple-é.fr") == "jean@xn--exemple--i1a.fr"
    assert canonical("jean@EXEMPLE-É.fr") == "jean@xn--exemple--i1a.fr"
    assert canonical_email("  jean@exemple-é.fr ") == "jean@xn--exemple--i1a.fr"
    assert canonical_email("é@é.é") is None


def test_at_most_254_characters_once_the_domain_is_in_ascii():
    local = "a" * 60
    domain = ".".join(["b" * 60, "c" * 60, "d" * 60, "e" * 7, "fr"])
    assert len(f"{local}@{domain}") == 254 and is_email(f"{local}@{domain}")
    assert not is_email(f"{local}@e{domain}")
    accents = ("éèêëàâäîïôöùûüçœæÿ" * 3)[:40]  # 57 characters in ASCII
    long_unicode = ".".join([accents, "c" * 60, "d" * 60, "e" * 15, "fr"])
    assert len(f"{local}@{long_unicode}") == 242  # 259 in ASCII
    assert canonical(f"{local}@{long_unicode}") is None  # its ASCII form is longer


def test_the_french_messages(app):
    with app.test_request_context():
        for probe in PROBES:
            assert [str(message) for message in address_problems(probe)["email"]] == [
                "Saisissez une adresse mail valide, par exemple nom@exemple.fr."
            ]
        assert email_problems("jean@exemple-é.fr", "JEAN@xn--exemple--i1a.fr") == {}
        assert [str(message) for message in email_problems("jean@example.org", "jean@example.net")["email_confirmation"]] == [
            "Les deux adresses mail sont différentes."
        ]


def test_invisible_characters_are_shown_escaped():
    assert shown("\u202e@x.fr") == "\\u202e@x.fr"
    assert shown("a\x00b c") == "a\\u0000b c"
    assert shown("jean@example.org") == "jean@example.org"


# --- addresses stored before the rule --------------------------------------------------------
# An account's address stored when the pages accepted more than the mailer: no page answers
# 500 and no sweep stops on it; nothing is queued, an audit row says so.


def set_email(app, account_id, email, **values):
    with app.app_context():
        db.session.execute(update(Account).where(Account.id == account_id).values(email=email, **values))
        db.session.commit()


def queued(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_a_pending_account_whose_stored_address_cannot_be_sent_to_is_asked_to_correct_it(app, establishment, audit_events, smtp_server):
    parent = issue_family(app)["parent"]
    client = app.test_client()
    first_connection_done(app, client, parent.identifier, parent.secret)
    smtp_server.wait_for(1)
    set_email(app, parent.id, "é@é.é")
    page = client.get("/activation-en-attente").text
    token = re.search(r'name="resend-csrf_token"[^>]*value="([^"]+)"', page).group(1)
    resend = {"resend-csrf_token": token, "resend-submit": "Renvoyer le courrier électronique"}
    response = client.post("/activation-en-attente", data=resend)
    assert response.status_code == 400
    assert field_errors(response.text, "correct-email") == [
        "Cette adresse ne peut pas recevoir de courrier électronique : corrigez-la ci-dessous."
    ]
    assert queued(app) == 1  # the first activation email only
    token = re.search(r'name="correct-csrf_token"[^>]*value="([^"]+)"', response.text).group(1)
    form = {"correct-email": "jean@example.org", "correct-email_confirmation": "jean@example.org", "correct-submit": "Corriger l'adresse"}
    assert client.post("/activation-en-attente", data={"correct-csrf_token": token, **form}).status_code == 303
    assert smtp_server.wait_for(2)[-1]["To"] == "jean@example.org"


def test_a_reset_asked_for_an_account_whose_stored_address_cannot_be_sent_to_answers_the_same_page(app, client, parent, audit_events):
    set_email(app, parent.id, "bang!path@example.org")  # accepted by the pages of before
    page = client.get("/mot-de-passe-oublie")
    response = client.post("/mot-de-passe-oublie", data={"identifier": "jean.dupont1", "csrf_token": csrf_token(page.text)})
    assert response.status_code == 200 and "<h1>" in response.text
    assert queued(app) == 0
    (refused,) = audit_events("mail_address_refused")
    assert (refused.account_id, refused.details) == (parent.id, {"template": "password_reset"})


def test_the_sweep_goes_on_past_an_account_whose_stored_address_cannot_be_sent_to(app, make_account, audit_events):
    as_of = now().replace(microsecond=0)
    ids = [make_account(given_name="Unused", family_name=name, email=f"{name.lower()}@example.org").id for name in ("Un", "Deux")]
    for account_id, email in zip(ids, ["pipe|x@example.org", "deux@example.org"], strict=True):
        set_email(app, account_id, email, issued_at=as_of - 500 * DAY, activated_at=as_of - 400 * DAY, last_login_at=as_of - 340 * DAY)
    with app.app_context():
        assert sweep(as_of=as_of)["warned"] == 2
        db.session.commit()
        assert db.session.scalars(select(OutboxMessage.recipient)).all() == ["deux@example.org"]
    assert [event.details for event in audit_events("mail_address_refused")] == [{"template": "inactivity_warning"}]


def test_identifiers_are_found_for_an_address_stored_with_its_unicode_domain(app, client, parent, smtp_server):
    set_email(app, parent.id, "jean@exemple-é.fr")  # stored before the ASCII form
    page = client.get("/identifiant-oublie")
    client.post("/identifiant-oublie", data={"email": "jean@exemple-é.fr", "csrf_token": csrf_token(page.text)})
    (received,) = smtp_server.wait_for(1)
    assert received["To"] == "jean@xn--exemple--i1a.fr"  # sent in the ASCII form
    assert "jean.dupont1" in received.get_body(("plain",)).get_content()


def test_a_staff_member_stored_with_a_unicode_domain_is_found_by_either_form(app):
    with app.app_context():
        db.session.add(StaffMember(email="claire@rectorat-é.fr", given_name="Claire", family_name="Martin", role=StaffRole.ACADEMIE))
        db.session.commit()
        for typed in ("Claire@Rectorat-É.fr", "claire@rectorat-é.fr"):
            assert find_staff(typed).email == "claire@rectorat-é.fr"
        assert find_staff("claire@xn--rectorat--i1a.fr") is None  # stored before: the typed form finds it
        assert find_staff("é@é.é") is None
