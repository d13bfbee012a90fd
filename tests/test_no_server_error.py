"""Whatever text or bytes a request carries, no page or protocol endpoint answers 5xx.

Property-based (Hypothesis): parameters and credentials are drawn from arbitrary text,
raw bytes (often not UTF-8 once decoded), long runs and, to reach deeper code, values
that are valid for this provider. Run against PostgreSQL too: NUL bytes fail only there.
Examples are random on a developer's machine and fixed under CI.
"""

import base64
import io
import os
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
from idp.models import Account, LinkPurpose
from idp.staff_accounts.members import create_staff, set_password
from idp.staff_accounts.totp import encrypt_secret, new_secret

from .conftest import PASSWORD
from .oidc_helpers import csrf_token, pkce_pair
from .staff.conftest import STAFF_PASSWORD, log_in

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
    log_in(client, SimpleNamespace(email="secretariat@college.example", secret=secret))
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
