"""Userinfo, revocation, introspection and RP-initiated logout, on Authlib's endpoints."""

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import current_app
from flask import request as flask_request
from sqlalchemy import update

from ..accounts.access import relying_party_refusal
from ..audit import audit
from ..auth.sessions import log_out
from ..clock import now, timestamp
from ..extensions import db
from ..models import Token
from ..models.oauth import AUTH_METHODS
from ..relying_parties.subjects import subject_for
from . import fast_path
from .claims import user_info
from .keys import key_store
from .tokens import find_token


class BearerTokenValidator(_BearerTokenValidator):
    def authenticate_token(self, token_string):
        return fast_path.access_grant(token_string)


class BearerProtector(ResourceProtector):
    """Also reads the token from a form-encoded POST body (RFC 6750 §2.2)."""

    def parse_request_authorization(self, request):
        if "Authorization" not in request.headers and flask_request.method == "POST":
            value = flask_request.form.get("access_token")
            if value:
                return self.get_token_validator("bearer"), value
        return super().parse_request_authorization(request)


protector = BearerProtector()
protector.register_token_validator(BearerTokenValidator())


class UserInfoEndpoint(_UserInfoEndpoint):
    def get_issuer(self):
        return current_app.config["ISSUER"]

    def generate_user_info(self, user, scope):
        # The rows of fast_path.ACCESS: each carries the token's relying party's columns.
        return user_info(user, scope, user[0])

    def resolve_private_key(self):
        return key_store().signing_key().key


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        moment = now()
        if token.presented_as == "refresh_token":
            # RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
            db.session.execute(update(Token).where(Token.family == token.family, Token.revoked_at.is_(None)).values(revoked_at=moment))
        else:
            token.revoked_at = moment
        audit("token_revoked", account=token.account, client=token.client, kind=token.presented_as)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        # A relying party may introspect the tokens it was given, and only those.
        return token.client_pk == client.id

    def introspect_token(self, token):
        if relying_party_refusal(token.account, token.client) is not None:
            return {"active": False}
        expires = token.refresh_expires_at if token.presented_as == "refresh_token" else token.access_expires_at
        return {
            "active": True,
            "client_id": token.client.client_id,
            "token_type": "Bearer" if token.presented_as == "access_token" else "refresh_token",
            "scope": token.scope,
            "sub": subject_for(token.client, token.account.sub),
            "username": token.account.identifier,
            "aud": token.client.client_id,
            "iss": current_app.config["ISSUER"],
            "exp": timestamp(expires),
            "iat": timestamp(token.issued_at),
        }


class EndSessionEndpoint(_EndSessionEndpoint):
    def get_server_jwks(self):
        return key_store().verification_keys()

    def get_algorithms(self):
        return ["RS256"]

    def end_session(self, end_session_request):
        log_out(client=end_session_request.client)
