"""The SAML 2.0 identity provider (docs/saml.md): one more door into idp/accounts, on pysaml2.

The same login page and login sessions as OpenID Connect (idp.auth), the same door rule
(`accounts.access.relying_party_refusal`), the same signing keys (idp.oidc.keys, with a
certificate made from each, idp.saml.keys), the same rule of who hears a logout
(`accounts.logouts`).
"""

from flask import Blueprint

bp = Blueprint("saml", __name__)


def init_app(app):
    from . import views  # noqa: F401  (views register on bp)

    app.register_blueprint(bp)
