"""The grants, wired on Authlib with its current hooks (conventions: Authlib's own docs).

Authorization codes and refresh tokens are read, then spent by the one conditional
statement that stores the token they give, so two concurrent requests can never both
spend the same one; the loser is treated as a replay and revokes what the value produced
(RFC 6749 §4.1.2, RFC 9700 §4.14), which that statement has already stored. Hooks never
commit: a replay is raised to the token view, which refuses the request and commits the
revocation as a transaction of its own.

The token endpoint reads its client, the code or refresh token and the person through the
fast path (idp.oidc.fast_path), and Authlib authenticates the client as usual. The code
exchange and the refresh grant are the hottest paths after the login: they read with
single statements (the refresh grant's client lookup also reads the refresh token
presented) and write with one (fast_path.exchange_code, rotate_refresh_token).
"""

from datetime import timedelta
from types import SimpleNamespace

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from flask import current_app, g
from sqlalchemy import exists, select

from ..accounts.logouts import note_relying_party
from ..clock import now, timestamp
from ..extensions import db
from ..models import AuthorizationCode, Token
from ..models.oauth import AUTH_METHODS
from ..relying_parties.lookup import well_formed_client_id
from ..security import token_hash
from . import fast_path
from .claims import user_info
from .keys import key_store
from .tokens import Replay, find_token


def _code_replayed(code_id, client):
    """A spent code presented again: what it produced is to be revoked (ORM reads, for the
    audit: rare path)."""
    spent = db.session.get(AuthorizationCode, code_id)
    families = db.session.scalars(select(Token.family).where(Token.authorization_code_id == code_id)).all()
    return Replay(families, "code_replayed", spent.account, client)


def _enabled(client):
    """A client row read at the token endpoint, or None when there is none or it is disabled
    (as `query_enabled_client` answers the other endpoints): invalid_client."""
    return client if client is not None and client.is_enabled else None


class TokenEndpointGrant:
    """Client authentication at the token endpoint: Authlib's own methods and checks, on a
    client that `read_client` reads through the fast path instead of the server's
    `query_client`."""

    def authenticate_token_endpoint_client(self):
        authentication = ClientAuthentication(self.read_client)
        client = authentication(self.request, self.TOKEN_ENDPOINT_AUTH_METHODS)
        self.server.send_signal("after_authenticate_client", client=client, grant=self)
        return client

    def read_client(self, client_id):
        if not well_formed_client_id(client_id):
            return None
        return _enabled(fast_path.client(client_id))


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
        # Whom the session's end must reach (idp.accounts.logouts).
        note_relying_party(login_session, request.client)
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
        found = fast_path.presented_code(code, client)
        if found is None:
            return None
        if found.used_at is not None:
            raise _code_replayed(found.id, client)
        if found.expires_at <= now():
            return None
        return found

    def save_token(self, token):
        if not fast_path.exchange_code(token, self.request):
            # Spent by a concurrent request since it was read (rare path).
            raise _code_replayed(self.request.authorization_code.id, self.request.client)

    def delete_authorization_code(self, authorization_code):
        # Spent by exchange_code; the row stays so that a replay is recognised.
        pass

    def authenticate_user(self, authorization_code):
        person = fast_path.person(authorization_code.account_id, self.request.client)
        return person if person.allowed else None


class RefreshTokenGrant(TokenEndpointGrant, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def read_client(self, client_id):
        if not well_formed_client_id(client_id):
            return None
        return _enabled(fast_path.client_presenting(client_id, self.request.form.get("refresh_token")))

    def authenticate_refresh_token(self, refresh_token):
        presented = self.request.client  # with the columns of the token it presents
        if presented.token_id is None:
            return None  # unknown, or another client's
        if presented.refresh_used_at is not None:
            self._refuse_reuse(refresh_token)
        if presented.revoked_at is not None or presented.refresh_expires_at <= now():
            return None
        return fast_path.PresentedRefreshToken(presented)

    def authenticate_user(self, refresh_token):
        # rotate_refresh_token checks the account against the client as it spends the token.
        return SimpleNamespace(id=refresh_token.account_id)

    def save_token(self, token):
        refresh_token = self.request.refresh_token
        if not fast_path.rotate_refresh_token(token, refresh_token):
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

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.sid:
            # The login session, as the relying parties know it (Back-Channel Logout §2.1).
            claims["sid"] = authorization_code.sid
        return claims

    def get_client_claims(self, client):
        issued = timestamp()
        return {
            "iss": current_app.config["ISSUER"],
            "aud": client.client_id,
            "iat": issued,
            "exp": issued + current_app.config["ID_TOKEN_LIFETIME"],
        }

    def generate_user_info(self, user, scope):
        return user_info(user.rows, scope, user.client)
