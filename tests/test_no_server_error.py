"""Whatever text or bytes a request carries, no page or protocol endpoint answers 5xx.

Property-based (Hypothesis): parameters and credentials are drawn from arbitrary text,
raw bytes (often not UTF-8 once decoded), long runs and, to reach deeper code, values
that are valid for this provider. Run against PostgreSQL too: NUL bytes fail only there.
Examples are random on a developer's machine and fixed under CI.
"""

import base64
import io
import os
import re
import zipfile
from datetime import timedelta
from html import escape
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from idp.accounts.links import new_link
from idp.clock import now
from idp.extensions import db
from idp.models import Account, AccountState, LinkPurpose
from idp.staff_accounts.members import create_staff, set_password
from idp.staff_accounts.totp import encrypt_secret, new_secret

from .conftest import PASSWORD
from .fc_helpers import NEW_PASSWORD, first_connection_done, issue_family, start_first_connection
from .oidc_helpers import csrf_token, pkce_pair
from .staff.conftest import STAFF_PASSWORD
from .staff.conftest import log_in as staff_log_in
from .test_login import post_login

ENDPOINTS = [
    ("GET", "/authorize"),
    ("POST", "/authorize"),
    ("POST", "/authorize/consent"),
    ("POST", "/token"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    ("POST", "/revoke"),
    ("POST", "/introspect"),
    ("GET", "/logout"),
    ("POST", "/logout"),
    ("GET", "/connexion"),
    ("POST", "/connexion"),
    ("GET", "/langue/en"),
    ("GET", "/mot-de-passe-oublie"),
    ("POST", "/mot-de-passe-oublie"),
    ("GET", "/mot-de-passe-oublie/lien-inconnu"),
    ("POST", "/mot-de-passe-oublie/{live_reset_link}"),
    ("POST", "/identifiant-oublie"),
]
NAMES = [
    "client_id",
    "client_secret",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "id_token_hint",
    "login_hint",
    "ui_locales",
    "code",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "refresh_token",
    "token",
    "token_type_hint",
    "access_token",
    "post_logout_redirect_uri",
    "logout_hint",
    "identifier",
    "password",
    "next",
    "csrf_token",
    "confirm",
    "decision",
    "email",
    "temporary_password",
    "password_confirmation",
]

ARBITRARY = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=60),
    st.builds(lambda piece, count: piece * count, st.text(min_size=1, max_size=3), st.integers(0, 3000)),
    st.sampled_from(["\x00", "\r\n", "\t", "é", '"', "\\", "%00", "²", "-1", "9" * 40, "/\t/evil.com", "//evil.com"]),
)

# What a header line can hold (HTTP servers refuse newlines before the application sees them).
HEADER_TEXT = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1").replace("\r", "").replace("\n", ""))


def valid_values(ent, csrf):
    """Values that pass the first checks, so that the arbitrary ones reach deeper code."""
    _verifier, challenge = pkce_pair()
    return {
        "client_id": ent.client_id,
        "client_secret": ent.secret,
        "response_type": "code",
        "redirect_uri": ent.redirect_uri,
        "scope": "openid profile offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "grant_type": "authorization_code",
        "identifier": "jean.dupont1",
        "password": PASSWORD,
        "csrf_token": csrf,
        "decision": "allow",
        "next": "/compte/",
        "email": "jean@example.org",
        "temporary_password": "AAAA-BBBB-CCCC",
        "password_confirmation": PASSWORD,
    }


@st.composite
def requests(draw, valid):
    pairs = []
    for name in draw(st.lists(st.sampled_from([*NAMES, "x"]), max_size=8)):
        value = draw(st.one_of(ARBITRARY, st.just(valid.get(name, "")))) if name in valid else draw(ARBITRARY)
        pairs.append((name, value))
    authorization = draw(
        st.one_of(
            st.none(),
            st.binary(max_size=40).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
            HEADER_TEXT.map(lambda text: "Bearer " + text),
            HEADER_TEXT.map(lambda text: "Basic " + text),
            HEADER_TEXT,
        )
    )
    return urlencode(pairs), authorization


@pytest.fixture
def browser(ent, parent):
    """A browser logged in to the ENT, and the values valid for it."""
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/")
    return ent.client, valid_values(ent, csrf_token(page.text)) | {"id_token_hint": tokens["id_token"]}


@pytest.fixture
def live_reset_link(app, parent):
    """The token of a live « mot de passe oublié » link of jean.dupont1 (temporary password AAAA-BBBB-CCCC)."""
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.identifier == "jean.dupont1"))
        token = new_link(account, LinkPurpose.PASSWORD_RESET, account.email, now() + timedelta(hours=1), secret="AAAABBBBCCCC")
        db.session.commit()
        return token


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_parameter_makes_an_endpoint_answer_a_server_error(browser, live_reset_link, method, path):
    client, valid = browser
    path = path.format(live_reset_link=live_reset_link)

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests(valid))
    def property_holds(request):
        query, authorization = request
        headers = {"Authorization": authorization} if authorization is not None else {}
        if method == "GET":
            response = client.get(f"{path}?{query}", headers=headers)
        else:
            response = client.post(path, data=query, content_type="application/x-www-form-urlencoded", headers=headers)
        assert response.status_code < 500, (method, path, query[:300], authorization, response.text[:300])

    property_holds()


# --- address fields ------------------------------------------------------------------------
# The addresses of the forms that send an email, or store an address the mailer will use,
# get arbitrary text and the shapes that once passed a page's check but not the mailer's.

ADDRESS_SHAPES = [
    "é@é.é",
    "😀@x.fr",
    "\u202e@x.fr",
    "claire,x@parent.example",
    'new"x@parent.example',
    "<script>@x.fr",
    "jean@exemple-é.fr",
    "jean@example.org",
    "a@b@example.org",
    "jean@example.org\r\nBcc: x@example.org",
    "jean @example.org",
    "Jean <jean@example.org>",
    "jean@[192.0.2.1]",
    '"jean"@example.org',
    "jean@-x.fr",
    "x" * 300 + "@example.org",
]
ADDRESS_PIECES = st.text(alphabet=st.sampled_from(list("aé😀\u202e\u200b ,;<>\"'()[]\\:!%|`.@-_+=?#~\t")), max_size=12)
ADDRESSES = st.one_of(
    st.text(max_size=40),
    st.emails(),
    st.sampled_from(ADDRESS_SHAPES),
    st.builds(lambda local, domain: f"{local}@{domain}", ADDRESS_PIECES | st.text(max_size=12), ADDRESS_PIECES | st.just("example.org")),
    st.builds(lambda piece, at: f"jean{piece}@exemple{at}.fr", ADDRESS_PIECES, ADDRESS_PIECES),
)


@st.composite
def typed_twice(draw):
    """(address, confirmation): mostly the same, as a person types it twice."""
    address = draw(ADDRESSES)
    return address, draw(st.one_of(st.just(address), st.just(address.upper()), ADDRESSES))


def address_property(check, strategy=None):
    """Run `check(example)` on address examples; it returns the response."""

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(typed_twice() if strategy is None else strategy)
    def property_holds(example):
        response = check(example)
        assert response.status_code < 500, (example, response.text[:300])

    property_holds()


@pytest.fixture
def generous_budgets(settings):
    """The forms that cost an email keep answering (not 429) for every example; the emails
    stay in the outbox (a background send would draw from `random`, through make_msgid,
    while Hypothesis generates the next example)."""
    settings["THROTTLE_RECOVERY_PER_IP"] = "100000 per hour"
    settings["MAIL_SEND_AFTER_COMMIT"] = False
    return settings


def test_first_connection_address_fields_never_answer_a_server_error(generous_budgets, app, establishment):
    parent = issue_family(app)["parent"]
    with app.app_context():
        letter = db.session.get(Account, parent.id).provisional_secret_hash
    browser = {}

    def begin():
        browser["client"] = start_first_connection(app.test_client(), parent.identifier, parent.secret)
        browser["csrf"] = csrf_token(browser["client"].get("/premiere-connexion").text)

    def check(example):
        address, confirmation = example
        form = {
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
            "email": address,
            "email_confirmation": confirmation,
            "birth_date": "14/03/2013",
            "csrf_token": browser["csrf"],
        }
        response = browser["client"].post("/premiere-connexion", data=form)
        if response.status_code == 303:  # accepted: the account is issued again for the next example
            with app.app_context():
                account = db.session.get(Account, parent.id)
                account.state, account.email, account.password_hash = AccountState.ISSUED, None, None
                account.first_connection_at, account.provisional_secret_hash = None, letter
                db.session.commit()
            begin()
        return response

    begin()
    address_property(check)


def test_pending_page_address_correction_never_answers_a_server_error(generous_budgets, app, establishment):
    parent = issue_family(app)["parent"]
    client = app.test_client()
    first_connection_done(app, client, parent.identifier, parent.secret)
    token = re.search(r'name="correct-csrf_token"[^>]*value="([^"]+)"', client.get("/activation-en-attente").text).group(1)

    def check(example):
        address, confirmation = example
        form = {"correct-email": address, "correct-email_confirmation": confirmation, "correct-submit": "Corriger l'adresse"}
        return client.post("/activation-en-attente", data={"correct-csrf_token": token, **form})

    address_property(check)


def test_email_change_address_fields_never_answer_a_server_error(generous_budgets, app, parent):
    client = app.test_client()
    assert post_login(client, "jean.dupont1", PASSWORD).status_code == 303
    token = csrf_token(client.get("/compte/adresse-mail").text)

    def check(example):
        address, confirmation = example
        form = {"email": address, "email_confirmation": confirmation, "current_password": PASSWORD, "csrf_token": token}
        return client.post("/compte/adresse-mail", data=form)

    address_property(check)


def test_forgotten_identifier_address_field_never_answers_a_server_error(generous_budgets, app, parent, client):
    token = csrf_token(client.get("/identifiant-oublie").text)
    address_property(lambda address: client.post("/identifiant-oublie", data={"email": address, "csrf_token": token}), ADDRESSES)


def test_staff_member_address_field_never_answers_a_server_error(app, establishment):
    with app.app_context():
        member, _ = create_staff("admin@ac-normandie.example", "Paul", "Martin", "academie")
        db.session.flush()
        set_password(member, STAFF_PASSWORD)
        secret = new_secret()
        member.totp_secret_encrypted = encrypt_secret(secret, member.id)
        member.enrolled_at = now()
        db.session.commit()
    client = app.test_client()
    staff_log_in(client, SimpleNamespace(email="admin@ac-normandie.example", secret=secret))
    token = csrf_token(client.get("/gestion/academie/personnels").text)

    def check(address):
        form = {"email": address, "given_name": "Anne", "family_name": "Leroy", "role": "academie", "uais": "", "csrf_token": token}
        return client.post("/gestion/academie/personnels", data=form)

    address_property(check, ADDRESSES)


# --- files uploaded to the back office's import page ------------------------------------

IMPORT_PAGE = "/gestion/etablissements/0140001A/import"
CSV_HEADER = "id_eleve;nom;prenom;date_naissance;classe;nom_responsable;prenom_responsable;email_responsable;rang_responsable"
CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "\x00", "Dupont", "Zoé", "04/05/2012", "2012-13-01", "6A", "1", "2", "3", '"', ";", "\r\n", "\x85", "a" * 150]),
)
EXPORT_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<BEE_ELEVES><PARAMETRES><UAJ>0140001A</UAJ></PARAMETRES><DONNEES><ELEVES>\n'


# Control characters (NUL failed only on PostgreSQL) as often as any other character.
CHARACTER = st.one_of(
    st.sampled_from(["\x00", "\x07", "\x1f", "\x7f", "\x85", "\x9b", "\u2028", "\ufeff"]), st.characters(max_codepoint=0x10FF)
)
VALID_ROW = ["E{0}", "Dupont", "Alice", "04/05/2012", "6A", "Dupont", "Jean", "jean{0}@example.org", "1"]


@st.composite
def mutated(draw, cells):
    """`cells`, most of them kept, a few replaced by a drawn cell or with a drawn character inside."""
    cells = list(cells)
    for _ in range(draw(st.integers(0, 2))):
        index = draw(st.integers(0, len(cells) - 1))
        if draw(st.booleans()):
            cells[index] = draw(CELL)
        else:
            at = draw(st.integers(0, len(cells[index])))
            cells[index] = cells[index][:at] + draw(CHARACTER) + cells[index][at:]
    return cells


@st.composite
def near_csv(draw):
    """A CSV that is nearly right: valid rows, a few of their cells drawn, in a drawn encoding."""
    rows = [draw(mutated([cell.format(number) for cell in VALID_ROW])) for number in range(draw(st.integers(0, 5)))]
    separator = draw(st.sampled_from([";", ",", "\t"]))
    text = "\n".join([CSV_HEADER.replace(";", separator), *(separator.join(cells) for cells in rows)])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return "eleves.csv", text.encode(encoding, errors="replace")


@st.composite
def near_export(draw):
    """A SIECLE pupils export that is nearly right: valid pupils, a few values drawn, the
    document maybe cut or spliced with drawn bytes."""
    pupils = [draw(mutated([str(number), "DUPONT", "Alice", "04/05/2012"])) for number in range(draw(st.integers(0, 4)))]
    records = "".join(
        f'<ELEVE ELEVE_ID="{escape(key, quote=True)}"><NOM_DE_FAMILLE>{escape(family)}</NOM_DE_FAMILLE>'
        f"<PRENOM>{escape(given)}</PRENOM><DATE_NAISS>{escape(born)}</DATE_NAISS></ELEVE>\n"
        for key, family, given, born in pupils
    )
    data = (EXPORT_HEAD + records + "</ELEVES></DONNEES></BEE_ELEVES>\n").encode()
    if draw(st.integers(0, 3)) == 0:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=20)) + data[cut:]
    return "ElevesSansAdresses.xml", data


def in_zip(upload):
    name, data = upload
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return name.rsplit(".", 1)[0] + ".zip", buffer.getvalue()


@st.composite
def damaged(draw, uploads):
    """An upload whose bytes were changed in a few places (an archive's headers or sizes, say)."""
    name, data = draw(uploads)
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return name, bytes(data)


UPLOADS = st.one_of(
    st.tuples(st.text(max_size=20), st.binary(max_size=300)),
    st.binary(max_size=300).map(lambda data: ("eleves.csv", CSV_HEADER.encode() + b"\n" + data)),
    st.binary(max_size=300).map(lambda data: ("export.xml", EXPORT_HEAD.encode() + data)),
    near_csv(),
    near_export(),
    near_csv().map(in_zip),
    near_export().map(in_zip),
    damaged(near_export().map(in_zip)),
)


@pytest.fixture
def staff_client(app, client, establishment):
    """The test client, logged in to the back office as a member of 0140001A's staff."""
    with app.app_context():
        member, _token = create_staff("secretariat@college.example", "Claire", "Martin", "etablissement", ["0140001A"])
        db.session.flush()
        set_password(member, STAFF_PASSWORD)
        secret = new_secret()
        member.totp_secret_encrypted = encrypt_secret(secret, member.id)
        member.enrolled_at = now()
        db.session.commit()
    staff_log_in(client, SimpleNamespace(email="secretariat@college.example", secret=secret))
    return client


def uploads_never_answer_a_server_error(staff_client, strategy, examples):
    token = csrf_token(staff_client.get(IMPORT_PAGE).text)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(strategy, min_size=1, max_size=2), st.booleans())
    def property_holds(files, complete):
        data = {"csrf_token": token, "files": [(io.BytesIO(content), name) for name, content in files]}
        if complete:
            data["complete"] = "y"
        response = staff_client.post(IMPORT_PAGE, data=data, content_type="multipart/form-data")
        assert response.status_code < 500, ([(name, content[:200]) for name, content in files], response.text[:300])

    property_holds()


def test_no_uploaded_file_makes_the_import_page_answer_a_server_error(staff_client):
    uploads_never_answer_a_server_error(staff_client, UPLOADS, 60)


def test_no_uploaded_file_past_the_import_limits_makes_a_server_error(app, staff_client):
    # Limits a few drawn files pass: the refusals of an import too large are drawn too.
    app.config["IMPORT_MAX_BYTES"] = 400
    app.config["IMPORT_MAX_ROWS"] = 3
    uploads_never_answer_a_server_error(staff_client, UPLOADS, 30)
