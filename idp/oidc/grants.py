"""The grants, wired on Authlib with its current hooks (conventions: Authlib's own docs).

Authorization codes and refresh tokens are claimed with one conditional UPDATE, so two
concurrent requests can never both spend the same one; the loser is treated as a replay
and revokes what the value produced (RFC 6749 §4.1.2, RFC 9700 §4.14). Hooks never
commit: a replay is raised to the token view, which refuses the request and commits the
revocation as a transaction of its own.
"""

from datetime import timedelta
from types import SimpleNamespace

from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, TokenMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from flask import current_app, g
from sqlalchemy import bindparam, exists, select, update

from ..accounts.access import relying_party_admits
from ..clock import now, timestamp
from ..extensions import db
from ..models import Account, AuthorizationCode, Client, Token
from ..security import token_hash
from .claims import Person, load_person, user_info
from .keys import key_store
from .tokens import Replay, find_token

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


# Spends an authorization code in one statement, if it is this client's and unspent.
CODE_CLAIM = (
    update(AuthorizationCode)
    .where(
        AuthorizationCode.code_hash == bindparam("digest"),
        AuthorizationCode.client_pk == bindparam("presenting_client"),
        AuthorizationCode.used_at.is_(None),
    )
    .values(used_at=bindparam("moment"))
    .returning(AuthorizationCode)
    .execution_options(synchronize_session=False)
)
CODE_LOOKUP = select(AuthorizationCode).where(
    AuthorizationCode.code_hash == bindparam("digest"), AuthorizationCode.client_pk == bindparam("presenting_client")
)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
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
        params = {"digest": token_hash(code), "presenting_client": client.id, "moment": now()}
        row = db.session.scalars(CODE_CLAIM, params).first()
        if row is None:
            # Unknown, or spent already: a replay revokes what the code produced (rare path).
            spent = db.session.scalar(CODE_LOOKUP, params)
            if spent is not None:
                families = db.session.scalars(select(Token.family).where(Token.authorization_code_id == spent.id)).all()
                raise Replay(families, "code_replayed", spent.account, client)
            return None
        if row.expires_at <= params["moment"]:
            return None
        return row

    def delete_authorization_code(self, authorization_code):
        # Spent in query_authorization_code; the row stays so that a replay is recognised.
        pass

    def authenticate_user(self, authorization_code):
        person = Person(load_person(authorization_code.account_id, self.request.client.category))
        return person if person.allowed else None


# Spends a refresh token in one statement, if it is this client's, unspent, unrevoked,
# unexpired and its account may still log in to the client; returns what the new token
# inherits.
REFRESH_CLAIM = (
    update(Token)
    .where(
        Token.refresh_token_hash == bindparam("digest"),
        Token.client_pk == bindparam("presenting_client"),
        Token.refresh_used_at.is_(None),
        Token.revoked_at.is_(None),
        Token.refresh_expires_at > bindparam("moment"),
        exists().where(Account.id == Token.account_id, Client.id == Token.client_pk, relying_party_admits()),
    )
    .values(refresh_used_at=bindparam("moment"))
    .returning(Token.id, Token.family, Token.scope, Token.account_id, Token.login_session_id, Token.authorization_code_id, Token.auth_time)
)


class SpentRefreshToken(TokenMixin):
    """The refresh token just spent, as the refresh grant and save_token need it."""

    def __init__(self, row):
        self.row = row
        self.family = row.family
        self.authorization_code_id = row.authorization_code_id
        self.login_session_id = row.login_session_id
        self.auth_time = row.auth_time

    def check_client(self, client):
        return True  # REFRESH_CLAIM only matches the presenting client's tokens

    def get_scope(self):
        return self.row.scope


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        client = self.request.client
        params = {"digest": token_hash(refresh_token), "presenting_client": client.id, "moment": now()}
        row = db.session.connection().execute(REFRESH_CLAIM, params).first()
        if row is not None:
            return SpentRefreshToken(row)
        # Not spendable: find out whether it is a reuse of a spent token (rare path).
        known = find_token(refresh_token, "refresh_token")
        if known is not None and known.presented_as == "refresh_token" and known.client_pk == client.id and known.refresh_used_at:
            raise Replay([known.family], "refresh_token_reused", known.account, known.client)
        return None

    def authenticate_user(self, refresh_token):
        # REFRESH_CLAIM checked the account against the client; the token row needs its id only.
        return SimpleNamespace(id=refresh_token.row.account_id)

    def revoke_old_credential(self, refresh_token):
        # Spent by REFRESH_CLAIM; a second use revokes the whole family.
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
