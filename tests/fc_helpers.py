"""Issued accounts taken through the first-connection form, for the first-connection and
activation tests: the login with the letter's secret, the form, and the activation email."""

import html
import re
from datetime import date
from urllib.parse import urlsplit

from .issuing_helpers import add_pupil, issue
from .oidc_helpers import csrf_token
from .test_login import post_login

NEW_PASSWORD = "Soleil-2024x"
BIRTH_DATE = date(2013, 3, 14)
SCHOOL_EMAIL = "jean@example.org"
LINK = re.compile(r"http://localhost/activation/[A-Za-z0-9_\-]+")


def issue_family(app):
    """Alice Dupont (born 14/03/2013) and her guardian Jean Dupont (school email jean@example.org):
    {kind: snapshot with the letter's secret}."""
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont", SCHOOL_EMAIL)], birth_date=BIRTH_DATE)
    return {each.kind: each for each in issue(app)}


def start_first_connection(client, identifier, secret, next_url=None):
    """Log in with the letter's secret: the login sends to the first-connection form."""
    response = post_login(client, identifier, secret, next_url)
    assert response.status_code == 303, response.status_code
    assert urlsplit(response.location).path == "/premiere-connexion"
    return client


def fill_form(client, **fields):
    """Post the first-connection form, right by default; `fields` override the answers."""
    page = client.get("/premiere-connexion")
    assert page.status_code == 200, page.status_code
    data = {
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
        "email": SCHOOL_EMAIL,
        "email_confirmation": SCHOOL_EMAIL,
        "birth_date": "14/03/2013",
        "csrf_token": csrf_token(page.text),
    }
    data.update(fields)
    return client.post("/premiere-connexion", data=data)


def field_errors(page, name):
    """The error messages shown by the field `name` (DSFR fr-messages-group)."""
    match = re.search(rf'<div class="fr-messages-group" id="{name}-messages">(.*?)</div>', page, re.DOTALL)
    if match is None:
        return []
    return [html.unescape(message) for message in re.findall(r'<p class="fr-message fr-message--error">(.*?)</p>', match.group(1))]


def link_of(message):
    """The activation link of an email, the same in its text and HTML parts."""
    text = message.get_body(("plain",)).get_content()
    markup = message.get_body(("html",)).get_content()
    links = set(LINK.findall(text))
    assert len(links) == 1, text
    assert links <= set(LINK.findall(html.unescape(markup)))
    return links.pop()


def first_connection_done(app, client, identifier, secret, next_url=None, **fields):
    """Through the form, successfully; the response (to the pending page)."""
    start_first_connection(client, identifier, secret, next_url)
    response = fill_form(client, **fields)
    assert response.status_code == 303, (response.status_code, response.text[:2000])
    assert urlsplit(response.location).path == "/activation-en-attente"
    return response
