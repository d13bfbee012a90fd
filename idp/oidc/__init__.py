"""The OpenID Connect provider: Authlib wiring (server, grants, claims, keys) and its views."""

from flask import Blueprint

bp = Blueprint("oidc", __name__)


def init_app(app):
    from . import authorize, server, views  # noqa: F401  (views register on bp)

    server.init_app(app)
    app.register_blueprint(bp)
