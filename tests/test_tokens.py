"""Token endpoint rules: single-use codes, refresh rotation, PKCE; userinfo, revocation,
introspection."""

import base64
import threading
from datetime import timedelta

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import g
from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import Engine

from idp.extensions import db
from idp.models import Account, AccountKind, AccountState, AuditEvent, Token
from idp.oidc import fast_path
from idp.oidc.fast_path import LazilyDescribedCursor
from idp.security import token_hash

from .conftest import PASSWORD
from .oidc_helpers import RelyingParty, pkce_pair, query_of
from .test_login import set_account
from .travel import frozen

# Every test here runs on the fast path, then on the ORM path (FAST_PATH off).
pytestmark = pytest.mark.both_paths


def userinfo(rp, access_token, how="GET"):
    if how == "GET":
        return rp.client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    if how == "POST-header":
        return rp.client.post("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return rp.client.post("/userinfo", data={"access_token": access_token})


# --- userinfo and scopes ----------------------------------------------------------------


def test_userinfo_by_get_post_header_and_post_body(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    for how in ("GET", "POST-header", "POST-body"):
        response = userinfo(ent, tokens["access_token"], how)
        assert response.status_code == 200, (how, response.json)
        assert response.json["sub"] == parent.sub
        assert response.json["preferred_username"] == "jean.dupont1"


def test_userinfo_without_or_with_a_bad_token_is_refused(client):
    assert client.get("/userinfo").status_code == 401
    response = client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"


def test_openid_scope_alone_gives_only_sub(ent, parent):
    tokens, claims = ent.full_login("jean.dupont1", PASSWORD, scope="openid")
    assert userinfo(ent, tokens["access_token"]).json == {"sub": parent.sub}
    assert "name" not in claims


def test_profile_email_scolarite_claims_of_a_parent(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile email scolarite")
    info = userinfo(ent, tokens["access_token"]).json
    assert info["given_name"] == "Jean"
    assert info["family_name"] == "Dupont"
    assert info["name"] == "Jean Dupont"
    assert info["email"] == "jean@example.org"
    assert info["email_verified"] is True
    assert info["FrEduCtPersonAffiliation"] == "resp2d"
    assert info["children"] == [{"given_name": "Alice", "family_name": "Dupont", "uai": "0140001A"}]


def test_scolarite_claims_of_a_pupil(ent, pupil_account):
    tokens, _ = ent.full_login("alice.martin1", "Cartable-2024", scope="openid scolarite")
    info = userinfo(ent, tokens["access_token"]).json
    assert info["FrEduCtPersonAffiliation"] == "eleve2d"
    assert info["FrEduCtEleveUAI"] == "0140001A"
    assert info["FrEduCtEleveINE"] == "1234567890A"
    assert "children" not in info


def test_discovery_describes_the_provider(client):
    body = client.get("/.well-known/openid-configuration").json
    assert body["issuer"] == "http://localhost"
    assert body["authorization_endpoint"] == "http://localhost/authorize"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert set(body["scopes_supported"]) >= {"openid", "profile", "email", "scolarite", "offline_access"}
    assert "FrEduCtPersonAffiliation" in body["claims_supported"]


# --- single-use codes ---------------------------------------------------------------------


def test_code_reused_immediately_is_refused_and_revokes_its_tokens(ent, parent, audit_events):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    first = ent.exchange(code)
    assert first.status_code == 200
    again = ent.exchange(code)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"
    assert userinfo(ent, first.json["access_token"]).status_code == 401
    assert [event.details["revoked"] for event in audit_events("code_replayed")] == [1]


@pytest.fixture
def commits_inside_authlib(monkeypatch):
    """The database commits made while Authlib handles a request (in its hooks): a list
    that must stay empty, since the views commit."""
    inside = []
    depth = []

    def counted(method):
        def wrapper(*args, **kwargs):
            depth.append(method)
            try:
                return method(*args, **kwargs)
            finally:
                depth.pop()

        return wrapper

    for name in ("create_token_response", "create_endpoint_response", "get_consent_grant"):
        monkeypatch.setattr(AuthorizationServer, name, counted(getattr(AuthorizationServer, name)))

    def commit(connection):
        if depth:
            inside.append(depth[-1].__name__)

    event.listen(Engine, "commit", commit)
    yield inside
    event.remove(Engine, "commit", commit)


def test_replayed_code_is_refused_and_its_revocation_committed_on_its_own(app, ent, parent, commits_inside_authlib):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD, scope="openid offline_access")
    first = ent.exchange(code).json
    again = ent.exchange(code)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"
    # Persisted although the request ends in an error, with its audit row.
    with app.app_context():
        assert db.session.scalar(db.select(Token.revoked_at)) is not None
        assert db.session.scalar(db.select(AuditEvent.details).where(AuditEvent.event == "code_replayed")) == {"revoked": 1}
    assert ent.refresh(first["refresh_token"]).json["error"] == "invalid_grant"
    assert commits_inside_authlib == []


def test_reused_refresh_token_is_refused_and_its_revocation_committed_on_its_own(ent, parent, commits_inside_authlib):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    second = ent.refresh(tokens["refresh_token"]).json
    assert ent.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert userinfo(ent, second["access_token"]).status_code == 401
    assert commits_inside_authlib == []


def test_revocation_and_logout_hooks_leave_the_commit_to_their_views(ent, parent, commits_inside_authlib):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    assert ent.client.post("/revoke", data={"token": tokens["access_token"]}, headers=rp_basic(ent)).status_code == 200
    assert userinfo(ent, tokens["access_token"]).status_code == 401
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    ent.client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert "login_required" in ent.authorize(prompt="none")[0].location
    assert commits_inside_authlib == []


def test_code_reused_later_is_refused_and_revokes_its_tokens(ent, parent):
    with frozen() as traveller:
        code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD, scope="openid offline_access")
        first = ent.exchange(code).json
        traveller.shift(timedelta(seconds=30))
        assert ent.exchange(code).json["error"] == "invalid_grant"
        assert userinfo(ent, first["access_token"]).status_code == 401
        assert ent.refresh(first["refresh_token"]).json["error"] == "invalid_grant"


def test_code_spent_by_a_concurrent_exchange_counts_as_a_replay(app, ent, parent, audit_events, rotation, monkeypatch):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD, scope="openid offline_access")
    other = RelyingParty(app.test_client(), ent.client_id, ent.secret, ent.auth_method, ent.redirect_uri, ent.issuer)
    exchange = fast_path.exchange_code
    concurrent = []

    def after_a_concurrent_exchange(token, request):
        # The same code exchanged in another thread between this request's read and write.
        monkeypatch.setattr(fast_path, "exchange_code", exchange)
        worker = threading.Thread(target=lambda: concurrent.append(other.exchange(code).json))
        worker.start()
        worker.join()
        return exchange(token, request)

    monkeypatch.setattr(fast_path, "exchange_code", after_a_concurrent_exchange)
    response = ent.exchange(code)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    # The concurrent request won, and lost what it got: its token is revoked.
    assert "access_token" in concurrent[0]
    assert userinfo(ent, concurrent[0]["access_token"]).status_code == 401
    assert ent.refresh(concurrent[0]["refresh_token"]).json["error"] == "invalid_grant"
    assert [event.details["revoked"] for event in audit_events("code_replayed")] == [1]


def test_code_expires_after_sixty_seconds(ent, parent):
    with frozen() as traveller:
        code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=61))
        assert ent.exchange(code).json["error"] == "invalid_grant"


def test_code_is_bound_to_its_client_and_redirect_uri(ent, make_rp, parent):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    other = make_rp("Autre")
    assert other.exchange(code).json["error"] == "invalid_grant"
    response = ent.exchange(code, redirect_uri="https://rp.example.org/cb")
    assert response.json["error"] == "invalid_grant"


# --- refresh tokens -----------------------------------------------------------------------


def test_no_refresh_token_without_offline_access(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile")
    assert "refresh_token" not in tokens


def test_refresh_rotates_and_reuse_revokes_the_family(ent, parent, audit_events):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    refreshed = ent.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.json
    assert refreshed.headers["Cache-Control"] == "no-store"
    second = refreshed.json
    assert second["refresh_token"] != tokens["refresh_token"]
    assert userinfo(ent, second["access_token"]).json["sub"] == parent.sub

    reused = ent.refresh(tokens["refresh_token"])
    assert reused.status_code == 400
    assert reused.json["error"] == "invalid_grant"
    assert userinfo(ent, second["access_token"]).status_code == 401
    assert ent.refresh(second["refresh_token"]).json["error"] == "invalid_grant"
    assert len(audit_events("refresh_token_reused")) == 1


def test_refresh_token_belongs_to_its_client(ent, make_rp, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    other = make_rp("Autre")
    assert other.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert ent.refresh(tokens["refresh_token"]).status_code == 200


def test_refresh_cannot_widen_the_scope(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    response = ent.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid email"})
    assert response.json["error"] == "invalid_scope"


def test_refresh_token_expires(ent, parent, app):
    with frozen() as traveller:
        tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
        traveller.shift(timedelta(seconds=app.config["REFRESH_TOKEN_LIFETIME"] + 1))
        assert ent.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"


def test_access_token_expires(ent, parent, app):
    with frozen() as traveller:
        tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
        traveller.shift(timedelta(seconds=app.config["ACCESS_TOKEN_LIFETIME"] + 1))
        assert userinfo(ent, tokens["access_token"]).status_code == 401


# --- refresh: one read, one write ---------------------------------------------------------


@pytest.fixture(params=["one statement where the database can", "two statements"])
def rotation(request, settings, monkeypatch):
    """The refresh grant's write as the backend does it on the fast path (PostgreSQL: one
    statement outside a transaction), then as the others do it (two statements in the
    request's transaction). The ORM path has one way only."""
    if request.param == "two statements":
        if not settings["FAST_PATH"]:
            pytest.skip("the ORM path writes in the request's transaction only")
        monkeypatch.setattr(fast_path, "single_statement_writes", lambda: False)
    return request.param


@pytest.fixture
def before_rotation(monkeypatch):
    """before_rotation(action): `action()` runs between the refresh grant's read and its
    write, as a concurrent request would."""

    rotate = fast_path.rotate_refresh_token

    def install(action):
        def interrupted(*args):
            action()
            return rotate(*args)

        monkeypatch.setattr(fast_path, "rotate_refresh_token", interrupted)

    return install


def test_refresh_rotates_in_one_read_and_one_write(ent, parent, rotation):
    tokens_, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    refreshed = ent.refresh(tokens_["refresh_token"]).json
    assert refreshed["scope"] == "openid profile offline_access"
    assert userinfo(ent, refreshed["access_token"]).json["preferred_username"] == "jean.dupont1"
    assert ent.refresh(refreshed["refresh_token"]).status_code == 200
    assert ent.refresh(tokens_["refresh_token"]).json["error"] == "invalid_grant"
    assert userinfo(ent, refreshed["access_token"]).status_code == 401


def test_refresh_token_spent_by_a_concurrent_request_counts_as_a_reuse(app, ent, parent, audit_events, rotation, before_rotation):
    tokens_, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    other = RelyingParty(app.test_client(), ent.client_id, ent.secret, ent.auth_method, ent.redirect_uri, ent.issuer)
    concurrent = []

    def concurrent_refresh():
        # In a thread of its own, as another gunicorn thread would serve it.
        before_rotation(lambda: None)
        worker = threading.Thread(target=lambda: concurrent.append(other.refresh(tokens_["refresh_token"]).json))
        worker.start()
        worker.join()

    before_rotation(concurrent_refresh)
    response = ent.refresh(tokens_["refresh_token"])
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    # The concurrent request won, and lost what it got: the family is revoked.
    assert "access_token" in concurrent[0]
    assert userinfo(ent, concurrent[0]["access_token"]).status_code == 401
    assert [event.details["revoked"] for event in audit_events("refresh_token_reused")] == [2]


def test_refresh_of_an_account_refused_meanwhile_spends_nothing(app, ent, parent, audit_events, rotation, before_rotation):
    tokens_, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    before_rotation(lambda: set_account(app, "jean.dupont1", state=AccountState.INVALIDATED))
    assert ent.refresh(tokens_["refresh_token"]).json["error"] == "invalid_grant"
    assert audit_events("refresh_token_reused") == []
    before_rotation(lambda: None)
    set_account(app, "jean.dupont1", state=AccountState.ACTIVE)
    assert ent.refresh(tokens_["refresh_token"]).status_code == 200


# --- PKCE -------------------------------------------------------------------------------


@pytest.fixture
def driver_statements(app, monkeypatch):
    """The statements PostgreSQL receives, as (SQL, whether in autocommit), whoever sends them."""
    if app.config["DATABASE_URL"].split(":", 1)[0] != "postgresql+psycopg":
        pytest.skip("the hot statements leave the ORM session on PostgreSQL only")
    if not app.config["FAST_PATH"]:
        pytest.skip("the ORM path keeps its statements in the ORM session")
    sent = []
    execute = LazilyDescribedCursor.execute

    def recorded(cursor, query, *args, **kwargs):
        sent.append((" ".join(str(query).split())[:40], cursor.connection.autocommit))
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(LazilyDescribedCursor, "execute", recorded)
    return sent


def test_token_requests_and_userinfo_send_their_statements_outside_any_transaction(ent, parent, driver_statements):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    driver_statements.clear()
    tokens_ = ent.exchange(code).json
    assert [statement[:17] for statement, _ in driver_statements] == [
        "SELECT client.id,",
        "SELECT authorizat",
        "SELECT account.id",
        "WITH spent AS (UP",
    ]
    assert all(autocommit for _, autocommit in driver_statements)
    driver_statements.clear()
    refreshed = ent.refresh(tokens_["refresh_token"]).json
    assert [statement[:17] for statement, _ in driver_statements] == ["SELECT client.id,", "WITH spent AS (UP"]
    driver_statements.clear()
    assert userinfo(ent, refreshed["access_token"]).json["preferred_username"] == "jean.dupont1"
    assert [statement[:12] for statement, _ in driver_statements] == ["SELECT token"]
    assert all(autocommit for _, autocommit in driver_statements)


def test_hot_statements_convert_enumerations_as_the_orm_does(app, ent, parent):
    if not app.config["FAST_PATH"]:
        pytest.skip("the fast path's conversions")
    tokens_, _ = ent.full_login("jean.dupont1", PASSWORD)
    lookup = {"digest": token_hash(tokens_["access_token"])}
    with app.test_request_context():
        rows = fast_path.ACCESS.all(lookup)
        assert rows[0].kind is AccountKind.PARENT
        assert rows[0].identifier == "jean.dupont1"
        assert type(rows[0]) is fast_path.ACCESS.row
    # The door rule's literal (the ACTIVE member) is bound as the column stores it.
    set_account(app, "jean.dupont1", state=AccountState.BLOCKED)
    with app.test_request_context():
        assert fast_path.ACCESS.all(lookup) == []


@pytest.fixture
def statements(monkeypatch):
    """The fast path's statements, to which a test may add its own until it ends."""
    monkeypatch.setattr(fast_path, "STATEMENTS", list(fast_path.STATEMENTS))
    return fast_path.STATEMENTS


def test_a_bound_value_is_converted_as_the_column_stores_it(settings, make_app, parent, statements):
    by_state = fast_path.HotStatement(
        "ByState", select(Account.identifier).where(Account.state == bindparam("state", type_=Account.state.type))
    )
    app = make_app(settings)
    if not app.config["FAST_PATH"]:
        pytest.skip("the fast path's conversions")
    with app.test_request_context():
        assert [row.identifier for row in by_state.all({"state": AccountState.ACTIVE})] == ["jean.dupont1"]
        assert by_state.all({"state": AccountState.BLOCKED}) == []


def test_a_statement_that_cannot_be_compiled_once_stops_the_start(settings, make_app, statements):
    fast_path.HotStatement("Expanding", select(Account.id).where(Account.id.in_(bindparam("ids", expanding=True))))
    if not settings["FAST_PATH"]:
        make_app(settings)  # nothing compiled, nothing refused
        return
    with pytest.raises(RuntimeError, match="statement Expanding cannot run"):
        make_app(settings)


def test_a_statement_whose_columns_share_a_name_makes_no_row_type(statements):
    with pytest.raises(TypeError, match=r"columns \['id'\] share a name"):
        fast_path.HotStatement("Twice", select(Account.id, Token.id))


def test_the_hot_connection_goes_back_to_the_pool_in_transaction_mode(app, driver_statements):
    with app.test_request_context():
        fast_path.ACCESS.all({"digest": "unknown"})
        driver = g.statement_connection.driver_connection
        assert driver.autocommit
        fast_path.close_statement_connection()
        assert not driver.autocommit
    with app.test_request_context():
        fast_path.ACCESS.all({"digest": "unknown"})
        pooled = g.statement_connection
        pooled.driver_connection.close()  # lost with its server
        fast_path.close_statement_connection()
        assert pooled.dbapi_connection is None  # discarded, not given back


def test_public_client_with_pkce(make_rp, parent):
    rp = make_rp("Application", auth_method="none")
    verifier, challenge = pkce_pair()
    code, values = rp.log_in_and_get_code("jean.dupont1", PASSWORD, code_challenge=challenge, code_challenge_method="S256")
    response = rp.exchange(code, code_verifier=verifier)
    assert response.status_code == 200, response.json
    rp.verify_id_token(response.json["id_token"], nonce=values["nonce"])


def test_public_client_must_send_a_challenge(make_rp, parent):
    rp = make_rp("Application", auth_method="none")
    response, _ = rp.authorize()
    assert query_of(response.location)["error"] == "invalid_request"


def test_wrong_or_missing_verifier_is_refused(make_rp, parent):
    rp = make_rp("Application", auth_method="none")
    _verifier, challenge = pkce_pair()
    code, _ = rp.log_in_and_get_code("jean.dupont1", PASSWORD, code_challenge=challenge, code_challenge_method="S256")
    assert rp.exchange(code, code_verifier=pkce_pair()[0]).json["error"] == "invalid_grant"
    code, _ = rp.log_in_and_get_code("jean.dupont1", PASSWORD, code_challenge=challenge, code_challenge_method="S256")
    assert rp.exchange(code).json["error"] == "invalid_request"


def test_confidential_client_challenge_is_enforced(ent, parent):
    verifier, challenge = pkce_pair()
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD, code_challenge=challenge, code_challenge_method="S256")
    assert ent.exchange(code).json["error"] == "invalid_request"
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD, code_challenge=challenge, code_challenge_method="S256")
    assert ent.exchange(code, code_verifier=verifier).status_code == 200


def test_plain_challenge_method_is_refused(ent, parent):
    verifier, _ = pkce_pair()
    ent.full_login("jean.dupont1", PASSWORD)
    response, _ = ent.authorize(code_challenge=verifier, code_challenge_method="plain")
    assert query_of(response.location)["error"] == "invalid_request"


def test_verifier_without_challenge_is_refused(ent, parent):
    code, _ = ent.log_in_and_get_code("jean.dupont1", PASSWORD)
    assert ent.exchange(code, code_verifier=pkce_pair()[0]).json["error"] == "invalid_request"


# --- revocation and introspection ---------------------------------------------------------


def introspect(rp, token, **extra):
    return rp.client.post("/introspect", data={"token": token, **extra}, headers=rp_basic(rp))


def rp_basic(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def test_revoking_an_access_token(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    response = ent.client.post("/revoke", data={"token": tokens["access_token"]}, headers=rp_basic(ent))
    assert response.status_code == 200
    assert userinfo(ent, tokens["access_token"]).status_code == 401


def test_revoking_a_refresh_token_ends_its_access_tokens(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid offline_access")
    response = ent.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}, headers=rp_basic(ent)
    )
    assert response.status_code == 200
    assert userinfo(ent, tokens["access_token"]).status_code == 401
    assert ent.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_accepted(ent):
    response = ent.client.post("/revoke", data={"token": "unknown"}, headers=rp_basic(ent))
    assert response.status_code == 200


def test_revocation_requires_client_authentication(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    response = ent.client.post("/revoke", data={"token": tokens["access_token"]})
    assert response.status_code in (400, 401)
    assert userinfo(ent, tokens["access_token"]).status_code == 200


def test_another_client_cannot_revoke_my_token(ent, make_rp, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    other = make_rp("Autre")
    other.client.post("/revoke", data={"token": tokens["access_token"]}, headers=rp_basic(other))
    assert userinfo(ent, tokens["access_token"]).status_code == 200


def test_introspection_of_own_tokens(ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    body = introspect(ent, tokens["access_token"]).json
    assert body["active"] is True
    assert body["sub"] == parent.sub
    assert body["client_id"] == ent.client_id
    assert body["scope"] == "openid profile offline_access"
    assert introspect(ent, tokens["refresh_token"], token_type_hint="refresh_token").json["active"] is True
    ent.client.post("/revoke", data={"token": tokens["access_token"]}, headers=rp_basic(ent))
    assert introspect(ent, tokens["access_token"]).json == {"active": False}


def test_tokens_of_an_account_no_longer_active_are_inactive_everywhere(app, ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    for state in (AccountState.INVALIDATED, AccountState.EXPIRED, AccountState.PENDING_EMAIL):
        set_account(app, "jean.dupont1", state=state)
        assert introspect(ent, tokens["access_token"]).json == {"active": False}
        assert introspect(ent, tokens["refresh_token"], token_type_hint="refresh_token").json == {"active": False}
        assert userinfo(ent, tokens["access_token"]).status_code == 401
    assert ent.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"


def test_tokens_of_a_teleservice_are_inactive_once_the_family_refuses_teleservices(app, make_rp, parent):
    teleservice = make_rp("Paiement en ligne", category="teleservice")
    tokens, _ = teleservice.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    code, _ = teleservice.log_in_and_get_code("jean.dupont1", PASSWORD)
    set_account(app, "jean.dupont1", teleservices_refused=True)
    assert introspect(teleservice, tokens["access_token"]).json == {"active": False}
    assert userinfo(teleservice, tokens["access_token"]).status_code == 401
    assert teleservice.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert teleservice.exchange(code).json["error"] == "invalid_grant"


def test_refusing_teleservices_leaves_the_ent_tokens_active(app, ent, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    set_account(app, "jean.dupont1", teleservices_refused=True)
    assert introspect(ent, tokens["access_token"]).json["active"] is True
    assert userinfo(ent, tokens["access_token"]).status_code == 200
    assert ent.refresh(tokens["refresh_token"]).status_code == 200


def test_introspection_hides_other_clients_tokens_and_needs_authentication(ent, make_rp, parent):
    tokens, _ = ent.full_login("jean.dupont1", PASSWORD)
    other = make_rp("Autre")
    assert introspect(other, tokens["access_token"]).json == {"active": False}
    response = ent.client.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert introspect(ent, "garbage").json == {"active": False}
