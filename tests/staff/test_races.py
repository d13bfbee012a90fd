"""The staff's second factor under twenty wrong answers sent at once (TOTP codes, recovery
codes): exactly as many checks as the throttle allows a pair, on PostgreSQL."""

from collections import Counter

import pytest

from ..concurrency import at_once
from ..oidc_helpers import csrf_token
from .conftest import post_password


@pytest.mark.parametrize("wrong", ["123456", "abcde-fghjk-mnpqr"], ids=["TOTP codes", "recovery codes"])
def test_twenty_wrong_second_factors_at_once_are_five_checks(postgresql, app, secretary, clock, audit_events, wrong):
    forms = []
    for _ in range(20):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
        assert post_password(client, secretary.email).status_code == 303
        page = client.get("/gestion/connexion/code")
        forms.append((client, {"code": wrong, "csrf_token": csrf_token(page.text)}))

    responses = at_once([lambda client=client, data=data: client.post("/gestion/connexion/code", data=data) for client, data in forms])

    failures = [event for event in audit_events("staff_login_failed") if event.details.get("step") == "second_factor"]
    assert len(failures) == 5
    assert Counter(response.status_code for response in responses) == Counter({200: 5, 429: 15})
