"""Counters that guard a secret, under requests sent at the same moment (docs/security.md,
« Throttling »): twenty wrong answers at once get exactly the configured number of checks,
on PostgreSQL, whose row locks are what the birth date's count relies on. The staff's second
factor has its own module (tests/staff/test_races.py)."""

from collections import Counter
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest

from idp.models import AccountState

from .concurrency import at_once
from .fc_helpers import issue_family, start_first_connection
from .issuing_helpers import account_row
from .oidc_helpers import csrf_token
from .test_forgotten import ask_reset, reset_message

WRONG_DATES = [(date(2013, 3, 14) + timedelta(days=1 + day)).strftime("%d/%m/%Y") for day in range(20)]


@pytest.fixture
def family(app, establishment):
    return issue_family(app)


def first_connection_forms(app, family, addresses):
    """One browser per address on jean.dupont1's first-connection form, and its answers
    with a wrong birth date each: [(client, data)]."""
    forms = []
    for address, wrong_date in zip(addresses, WRONG_DATES, strict=False):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        start_first_connection(client, "jean.dupont1", family["parent"].secret)
        page = client.get("/premiere-connexion")
        data = {
            "password": "Soleil-rouge-x7",
            "password_confirmation": "Soleil-rouge-x7",
            "email": "jean@example.org",
            "email_confirmation": "jean@example.org",
            "birth_date": wrong_date,
            "csrf_token": csrf_token(page.text),
        }
        forms.append((client, data))
    return forms


def post_all_at_once(forms, path):
    responses = at_once([lambda client=client, data=data: client.post(path, data=data) for client, data in forms])
    return Counter(response.status_code for response in responses)


@pytest.mark.parametrize("spread", [False, True], ids=["one address", "twenty addresses"])
def test_twenty_wrong_birth_dates_at_once_are_five_checks_then_the_block(postgresql, app, family, audit_events, spread):
    addresses = [f"198.51.100.{number + 1}" if spread else "198.51.100.7" for number in range(20)]
    statuses = post_all_at_once(first_connection_forms(app, family, addresses), "/premiere-connexion")

    assert len(audit_events("first_connection_birth_date_failed")) == 5
    assert sorted(event.details["failures"] for event in audit_events("first_connection_birth_date_failed")) == [1, 2, 3, 4, 5]
    account = account_row(app)
    assert (account.state, account.birth_date_failures) == (AccountState.BLOCKED, 5)
    assert statuses[400] == 4
    # The fifth wrong date blocks; the others are refused without a check: by the account's
    # block, or first by the throttle of their address.
    assert statuses[403] + statuses[429] == 16
    assert set(statuses) <= {400, 403, 429}


def test_twenty_wrong_temporary_passwords_at_once_are_five_checks(postgresql, app, parent, smtp_server, audit_events):
    ask_reset(app.test_client(), "jean.dupont1")
    link, temporary = reset_message(smtp_server.wait_for(1)[0])
    path = urlsplit(link).path
    forms = []
    for number in range(20):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
        page = client.get(path)
        wrong = f"ABCD-EFGH-{number:04d}"
        data = {"temporary_password": wrong, "password": "Nouveau-pass42", "password_confirmation": "Nouveau-pass42"}
        forms.append((client, data | {"csrf_token": csrf_token(page.text)}))

    statuses = post_all_at_once(forms, path)

    assert len(audit_events("password_reset_failed")) == 5
    assert statuses == Counter({400: 5, 429: 15})
    # The link and its temporary password still work for the family, from home.
    home = app.test_client()
    page = home.get(path)
    data = {"temporary_password": temporary, "password": "Nouveau-pass42", "password_confirmation": "Nouveau-pass42"}
    assert home.post(path, data=data | {"csrf_token": csrf_token(page.text)}).status_code == 200
