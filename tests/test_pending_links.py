"""A stranger who knew the password asks to move the account to their address; whatever the
family does next that ends access (a password change, a reset, « se déconnecter partout », a
regeneration, the end of the account) cancels that link and every other pending one
(docs/security.md, « Generated secrets »): one domain function, `revoke_everything`, called
by every door."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from idp.accounts.lifecycle import regenerate
from idp.accounts.sweep import sweep
from idp.clock import now
from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.models import Account, AccountLink

from .oidc_helpers import csrf_token
from .test_forgotten import ask_reset, complete, reset_message
from .test_self_service import browser, change_email, change_password, link_in

STRANGER = "intrus@example.net"


def live_links(app, account_id):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AccountLink).where(AccountLink.account_id == account_id))


def confirm(app, link):
    reader = app.test_client()
    page = reader.get(link)
    if page.status_code != 200:
        return page
    return reader.post(link, data={"csrf_token": csrf_token(page.text)})


def through_the_web(door):
    def act(app, family_browser, smtp_server):
        if door == "password change":
            assert change_password(family_browser).status_code == 303
        elif door == "logout everywhere":
            page = family_browser.get("/compte/")
            assert family_browser.post("/compte/deconnexion-partout", data={"csrf_token": csrf_token(page.text)}).status_code == 200
        else:  # the password reset, from the family's own mailbox
            ask_reset(app.test_client(), "jean.dupont1")
            reset = next(message for message in smtp_server.wait_for(2) if message["To"] == "jean@example.org")
            link, temporary = reset_message(reset)
            assert complete(app.test_client(), link, temporary).status_code == 200

    return act


@pytest.mark.parametrize("door", ["password change", "password reset", "logout everywhere"])
def test_a_pending_address_change_dies_when_the_family_takes_the_account_back(app, parent, smtp_server, door):
    stranger = browser(app, "198.51.100.66")
    assert change_email(stranger, STRANGER).status_code == 303
    (request,) = smtp_server.wait_for(1)
    assert request["To"] == STRANGER
    stolen = link_in(request)

    through_the_web(door)(app, browser(app), smtp_server)

    assert live_links(app, parent.id) == 0
    assert confirm(app, stolen).status_code == 404
    with app.app_context():
        assert db.session.get(Account, parent.id).email == "jean@example.org"
    # « mot de passe oublié » still writes to the family, never to the stranger.
    wait_for_jobs(app)  # the notifications of the door have gone out
    before = len(smtp_server.messages)
    ask_reset(app.test_client(), "jean.dupont1")
    (reset,) = smtp_server.wait_for(before + 1)[before:]
    assert reset["To"] == "jean@example.org"
    assert reset["Subject"].startswith("Mot de passe oublié")


def test_a_regeneration_cancels_every_pending_link(app, parent, smtp_server):
    assert change_email(browser(app, "198.51.100.66"), STRANGER).status_code == 303
    stolen = link_in(smtp_server.wait_for(1)[0])
    ask_reset(app.test_client(), "jean.dupont1")
    reset_link, _ = reset_message(smtp_server.wait_for(2)[1])
    assert live_links(app, parent.id) == 2

    with app.app_context():
        regenerate(db.session.get(Account, parent.id))
        db.session.commit()

    assert live_links(app, parent.id) == 0
    assert confirm(app, stolen).status_code == 404
    assert app.test_client().get(urlsplit(reset_link).path).status_code == 404


def test_the_end_of_an_account_cancels_its_pending_links(app, parent, smtp_server):
    assert change_email(browser(app, "198.51.100.66"), STRANGER).status_code == 303
    smtp_server.wait_for(1)
    assert live_links(app, parent.id) == 1

    with app.app_context():
        assert sweep(as_of=now() + timedelta(days=400))["warned"] == 1  # long unused: warned,
        db.session.commit()
        counts = sweep(as_of=now() + timedelta(days=800))  # then invalidated
        db.session.commit()

    assert counts["invalidated"] == 1
    assert live_links(app, parent.id) == 0


def test_a_password_change_keeps_this_session_and_drops_the_pending_address(app, parent, smtp_server):
    client = browser(app)
    assert change_email(client, STRANGER).status_code == 303
    assert change_password(client).status_code == 303
    page = client.get("/compte/")
    assert page.status_code == 200
    assert STRANGER not in page.text  # no address change waits any more
