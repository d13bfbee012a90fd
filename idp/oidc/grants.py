"""The grants, wired on Authlib with its current hooks (conventions: Authlib's own docs).

Authorization codes and refresh tokens are read, then spent by the one conditional
statement that stores the token they give, so two concurrent requests can never both
spend the same one; the loser is treated as a replay and revokes what the value produced
(RFC 6749 §4.1.2, RFC 9700 §4.14), which that statement has already stored. Hooks never
commit: a replay is raised to the token view, which refuses the request and commits the
revocation as a transaction of its own.

The token endpoint reads its client with Core (`ClientRecord`), and Authlib authenticates
it as usual. The code exchange and the refresh grant are the hottest paths after the
login: they read with single statements (the refresh grant's client lookup also reads the
refresh token presented) and write with one (idp.oidc.tokens.exchange_code,
rotate_refresh_token), outside any transaction on PostgreSQL (idp.oidc.connection).
"""

from datetime import timedelta
from types import SimpleNamespace

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, TokenMixin, grants
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from flask import current_app, g
from sqlalchemy import and_, bindparam, exists, select

from ..clock import now, timestamp
from ..extensions import db
from ..models import AuthorizationCode, Client, Token
from ..models.oauth import CLIENT_AUTHENTICATION_COLUMNS, CLIENT_RECORD_COLUMNS, AuthorizationCodeRules, ClientRecord
from ..security import token_hash
from . import connection
from .claims import Person, load_person, user_info
from .keys import key_store
from .parameters import well_formed_client_id
from .tokens import Replay, exchange_code, find_token, rotate_refresh_token

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


# The code presented, if it is this client's, spent or not: `exchange_code` spends it as
# it stores the token, unless another request did since.
PRESENTED_CODE_COLUMNS = (
    AuthorizationCode.id,
    AuthorizationCode.account_id,
    AuthorizationCode.login_session_id,
    AuthorizationCode.redirect_uri,
    AuthorizationCode.scope,
    AuthorizationCode.nonce,
    AuthorizationCode.auth_time,
    AuthorizationCode.code_challenge,
    AuthorizationCode.code_challenge_method,
    AuthorizationCode.expires_at,
    AuthorizationCode.used_at,
)
PRESENTED_CODE = connection.HotStatement(
    select(*PRESENTED_CODE_COLUMNS).where(
        AuthorizationCode.code_hash == bindparam("digest"), AuthorizationCode.client_pk == bindparam("presenting_client")
    )
)


class PresentedCode(AuthorizationCodeRules):
    """An unspent authorization code as the grant needs it: the columns of one Core row,
    without the ORM (the hot path)."""

    def __init__(self, row):
        for column in PRESENTED_CODE_COLUMNS:
            setattr(self, column.key, getattr(row, column.key))


def _code_replayed(code_id, client):
    """A spent code presented again: what it produced is to be revoked (ORM reads, for the
    audit: rare path)."""
    spent = db.session.get(AuthorizationCode, code_id)
    families = db.session.scalars(select(Token.family).where(Token.authorization_code_id == code_id)).all()
    return Replay(families, "code_replayed", spent.account, client)


CLIENT_RECORD = connection.HotStatement(select(*CLIENT_RECORD_COLUMNS).where(Client.client_id == bindparam("client_id")))


class TokenEndpointGrant:
    """Client authentication at the token endpoint: Authlib's own methods and checks, on a
    client that `read_client` reads with Core instead of the server's ORM `query_client`."""

    def authenticate_token_endpoint_client(self):
        authentication = ClientAuthentication(self.read_client)
        client = authentication(self.request, self.TOKEN_ENDPOINT_AUTH_METHODS)
        self.server.send_signal("after_authenticate_client", client=client, grant=self)
        return client

    def read_client(self, client_id):
        if not well_formed_client_id(client_id):
            return None
        row = connection.execute(CLIENT_RECORD, {"client_id": client_id}).fetchone()
        return ClientRecord(row) if row is not None else None


class AuthorizationCodeGrant(TokenEndpointGrant, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        if "openid" not in self.request.scope.split():
            raise InvalidScopeError("The 'openid' scope is required.", redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code, request):
        payload = request.payload.data
        login_session = g.login_session
        moment = now()
        challenge = payload.get("code_challenge")
        db.session.add(
            AuthorizationCode(
                code_hash=token_hash(code),
                client_pk=request.client.id,
                account_id=request.user.id,
                login_session=login_session,  # inserted with the code when the login is this request's
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=payload.get("nonce"),
                auth_time=login_session.created_at,
                code_challenge=challenge,
                code_challenge_method="S256" if challenge else None,
                created_at=moment,
                expires_at=moment + timedelta(seconds=current_app.config["AUTHORIZATION_CODE_LIFETIME"]),
            )
        )

    def query_authorization_code(self, code, client):
        params = {"digest": token_hash(code), "presenting_client": client.id}
        row = connection.execute(PRESENTED_CODE, params).fetchone()
        if row is None:
            return None
        if row.used_at is not None:
            raise _code_replayed(row.id, client)
        if row.expires_at <= now():
            return None
        return PresentedCode(row)

    def save_token(self, token):
        if not exchange_code(token, self.request):
            # Spent by a concurrent request since it was read (rare path).
            raise _code_replayed(self.request.authorization_code.id, self.request.client)

    def delete_authorization_code(self, authorization_code):
        # Spent by exchange_code; the row stays so that a replay is recognised.
        pass

    def authenticate_user(self, authorization_code):
        person = Person(load_person(authorization_code.account_id, self.request.client.category))
        return person if person.allowed else None


# The refresh grant's one read: the client presenting a refresh token, and that token's
# row if it is this client's (else NULLs). Authlib authenticates the client from the row
# before the grant looks at the token.
PRESENTED_REFRESH_TOKEN = connection.HotStatement(
    select(
        *CLIENT_AUTHENTICATION_COLUMNS,
        Token.id.label("token_id"),
        Token.account_id,
        Token.scope,
        Token.refresh_used_at,
        Token.revoked_at,
        Token.refresh_expires_at,
    )
    .outerjoin(Token, and_(Token.refresh_token_hash == bindparam("digest"), Token.client_pk == Client.id))
    .where(Client.client_id == bindparam("client_id"))
)


class PresentingClient(ClientRecord):
    """A client read with the refresh token it presents (`token`, a row of NULLs when the
    value is no refresh token of this client)."""

    def __init__(self, row):
        super().__init__(row, CLIENT_AUTHENTICATION_COLUMNS)
        self.token = row


class PresentedRefreshToken(TokenMixin):
    """A refresh token that may be spent, as the grant and `rotate_refresh_token` need it."""

    def __init__(self, row):
        self.id = row.token_id
        self.account_id = row.account_id
        self.scope = row.scope

    def check_client(self, client):
        return True  # PRESENTED_REFRESH_TOKEN only finds the presenting client's tokens

    def get_scope(self):
        return self.scope


class RefreshTokenGrant(TokenEndpointGrant, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def read_client(self, client_id):
        if not well_formed_client_id(client_id):
            return None
        params = {"client_id": client_id, "digest": token_hash(self.request.form.get("refresh_token") or "")}
        row = connection.execute(PRESENTED_REFRESH_TOKEN, params).fetchone()
        return PresentingClient(row) if row is not None else None

    def authenticate_refresh_token(self, refresh_token):
        row = self.request.client.token
        if row.token_id is None:
            return None  # unknown, or another client's
        if row.refresh_used_at is not None:
            self._refuse_reuse(refresh_token)
        if row.revoked_at is not None or row.refresh_expires_at <= now():
            return None
        return PresentedRefreshToken(row)

    def authenticate_user(self, refresh_token):
        # rotate_refresh_token checks the account against the client as it spends the token.
        return SimpleNamespace(id=refresh_token.account_id)

    def save_token(self, token):
        refresh_token = self.request.refresh_token
        if not rotate_refresh_token(token, refresh_token):
            # Spent by a concurrent request since it was read, revoked meanwhile, or its
            # account may no longer use this client (rare path).
            self._refuse_reuse(self.request.form["refresh_token"])
            raise InvalidGrantError()

    def _refuse_reuse(self, refresh_token):
        """A spent refresh token presented again revokes its whole family (read with the
        ORM, for the audit: rare path)."""
        known = find_token(refresh_token, "refresh_token")
        if known is not None and known.refresh_used_at is not None:
            raise Replay([known.family], "refresh_token_reused", known.account, known.client)

    def revoke_old_credential(self, refresh_token):
        # Spent by rotate_refresh_token; a second use revokes the whole family.
        pass


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; mandatory for public clients, enforced whenever a challenge was sent."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        payload = grant.request.payload.data
        if grant.request.client.is_public and not payload.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a PKCE 'code_challenge'.", redirect_uri=redirect_uri)
        if payload.get("code_challenge") and payload.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only the 'S256' code_challenge_method is supported.", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCode(oidc_grants.OpenIDCode):
    def exists_nonce(self, nonce, request):
        if request.user is None:
            # Nobody is logged in: this request only leads to the login page, and the nonce
            # is checked when the request comes back to issue its code.
            return False
        return db.session.scalar(select(exists().where(AuthorizationCode.client_pk == request.client.id, AuthorizationCode.nonce == nonce)))

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        # One key for the header and the signature, even if a rotation lands in between.
        g.id_token_key = key_store().signing_key()
        return {"alg": "RS256", "kid": g.id_token_key.kid, "typ": "JWT"}

    def resolve_client_private_key(self, client):
        return g.id_token_key.key

    def get_client_claims(self, client):
        issued = timestamp()
        return {
            "iss": current_app.config["ISSUER"],
            "aud": client.client_id,
            "iat": issued,
            "exp": issued + current_app.config["ID_TOKEN_LIFETIME"],
        }

    def generate_user_info(self, user, scope):
        return user_info(user.rows, scope)
