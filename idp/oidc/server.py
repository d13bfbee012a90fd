"""The Authlib authorization server, its grants and endpoints, bound in `init_app`."""

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc9207 import IssuerParameter as _IssuerParameter
from flask import current_app

from ..relying_parties.lookup import query_enabled_client
from . import fast_path, keys
from .endpoints import EndSessionEndpoint, IntrospectionEndpoint, RevocationEndpoint, UserInfoEndpoint, protector
from .grants import AuthorizationCodeGrant, OpenIDCode, RefreshTokenGrant, S256CodeChallenge
from .tokens import generate_token


class IssuerParameter(_IssuerParameter):
    """RFC 9207: `iss` in every authorization response, errors included."""

    def get_issuer(self):
        return current_app.config["ISSUER"]


def init_app(app):
    # Each grant stores its tokens itself (with the code or refresh token it spends).
    authorization = AuthorizationServer(query_client=query_enabled_client)
    authorization.init_app(app)
    authorization.register_token_generator("default", generate_token)
    authorization.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(require_nonce=False)])
    authorization.register_grant(RefreshTokenGrant)
    authorization.register_endpoint(RevocationEndpoint)
    authorization.register_endpoint(IntrospectionEndpoint)
    authorization.register_endpoint(UserInfoEndpoint(resource_protector=protector))
    authorization.register_endpoint(EndSessionEndpoint)
    authorization.register_extension(IssuerParameter())
    app.extensions["idp.authorization"] = authorization
    fast_path.init_app(app)
    keys.init_app(app)


def authorization_server():
    return current_app.extensions["idp.authorization"]
