"""Fixtures of the back-office tests: staff members (enrolled or not) and a browser that
logs in as one of them with the second factor, at a time the test chooses."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pyotp
import pytest

from idp.clock import now
from idp.extensions import db
from idp.models import AccountState
from idp.schools.establishments import add_establishment, find_establishment
from idp.schools.imports import import_files
from idp.schools.issuing import issue_accounts
from idp.staff_accounts.members import create_staff, set_password
from idp.staff_accounts.recovery_codes import new_recovery_codes
from idp.staff_accounts.totp import encrypt_secret, new_secret

from ..oidc_helpers import csrf_token
from ..travel import frozen, moment

STAFF_PASSWORD = "Bureau-de-vie-2024"
HEADER = "id_eleve;nom;prenom;date_naissance;classe;nom_responsable;prenom_responsable;email_responsable;rang_responsable\n"


def import_csv(app, uai, text):
    with app.app_context():
        import_files(find_establishment(uai), [("eleves.csv", text.encode())])
        db.session.commit()


def issue(app, uai, class_name, states):
    """Issue the class's accounts (as the issue page does), then put them in `states`
    {identifier: AccountState}; returns {identifier: account id}."""
    with app.app_context():
        issued = issue_accounts(find_establishment(uai), class_name)
        for item in issued:
            item.account.state = states.get(item.account.identifier, AccountState.ISSUED)
        db.session.commit()
        return {item.account.identifier: item.account.id for item in issued}


@pytest.fixture
def school(app, establishment, other_establishment):
    """At 0140001A: Alice (6A), Zoé (5B), Chloé (4C) and a guardian each; accounts issued for
    6A (Alice and her parent Jean, both active) and 5B (Zoé issued, her parent François
    pending), none for 4C. At 0610002B: Hugo and his parent, issued."""
    import_csv(
        app,
        "0140001A",
        HEADER + "E001;Dupont;Alice;04/05/2012;6A;Dupont;Jean;;1\n"
        "E002;Bœuf;Zoé;12/11/2011;5B;Bœuf;François;;1\n"
        "E003;Lefèvre;Chloé;30/06/2011;4C;Lefèvre;Paul;;1\n",
    )
    import_csv(app, "0610002B", HEADER + "L001;Petit;Hugo;01/02/2008;2NDE1;Petit;Luc;;1\n")
    ids = issue(app, "0140001A", "6A", {"alice.dupont1": AccountState.ACTIVE, "jean.dupont1": AccountState.ACTIVE})
    ids |= issue(app, "0140001A", "5B", {"francois.boeuf1": AccountState.PENDING_EMAIL})
    ids |= issue(app, "0610002B", None, {})
    return {identifier.split(".")[0]: account_id for identifier, account_id in ids.items()}


@pytest.fixture
def other_establishment(app):
    with app.app_context():
        created = add_establishment("0610002B", "Lycée Marie Curie")
        db.session.commit()
        return SimpleNamespace(id=created.id, uai=created.uai, name=created.name)


@pytest.fixture
def make_staff(app, establishment):
    """make_staff(email, role, uais, enrolled=True): a staff member; enrolled ones have a
    password (STAFF_PASSWORD), a TOTP secret and recovery codes, given back in clear."""

    def make(email="secretariat@college.example", role="etablissement", uais=None, enrolled=True, given_name="Claire"):
        if uais is None:
            uais = [establishment.uai] if role == "etablissement" else []
        with app.app_context():
            member, token = create_staff(email, given_name, "Martin", role, uais)
            db.session.flush()
            secret = codes = None
            if enrolled:
                set_password(member, STAFF_PASSWORD)
                secret = new_secret()
                member.totp_secret_encrypted = encrypt_secret(secret, member.id)
                member.enrolled_at = now()
                codes = new_recovery_codes(member)
            db.session.commit()
            return SimpleNamespace(id=member.id, email=member.email, token=token, secret=secret, recovery_codes=codes)

    return make


@pytest.fixture
def secretary(make_staff):
    """An enrolled staff member of the establishment 0140001A."""
    return make_staff()


@pytest.fixture
def administrator(make_staff):
    """An enrolled académie administrator."""
    return make_staff("admin@ac-normandie.example", role="academie", given_name="Paul")


@pytest.fixture
def mid_step():
    """The moment the `clock` fixture stands at: the first one after now that is 10 seconds
    into a 30-second TOTP step."""
    start = moment()
    return start + timedelta(seconds=(10 - start.second) % 30)


@pytest.fixture
def clock(mid_step):
    """Time stands at `mid_step`; clock.shift(seconds) moves it."""
    with frozen(mid_step) as traveller:
        yield traveller


def post_password(client, email, password=STAFF_PASSWORD, next_url=None):
    page = client.get("/gestion/connexion")
    data = {"email": email, "password": password, "csrf_token": csrf_token(page.text)}
    if next_url:
        data["next"] = next_url
    return client.post("/gestion/connexion", data=data)


def post_code(client, code):
    page = client.get("/gestion/connexion/code")
    return client.post("/gestion/connexion/code", data={"code": code, "csrf_token": csrf_token(page.text)})


def log_in(client, member):
    """Password then the current TOTP code: the browser has a staff session."""
    response = post_password(client, member.email)
    assert response.status_code == 303, response.text
    response = post_code(client, pyotp.TOTP(member.secret).now())
    assert response.status_code == 303, response.text
    return response


def fill_login_in_browser(page, member):
    """On the staff login page in Chromium: the password, then the current TOTP code."""
    page.get_by_label("Adresse mail").fill(member.email)
    page.get_by_label("Mot de passe").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code de vérification").fill(pyotp.TOTP(member.secret).now())
    page.get_by_role("button", name="Valider").click()


def bound_labels(html):
    """True when every visible input, select and textarea has a <label for> of its id (or is
    a radio/checkbox inside its label's pair)."""
    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html)
    inputs = re.findall(r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*>', html)
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    return len(ids) == len(inputs) and set(ids) <= labelled
