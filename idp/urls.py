"""Addresses of the provider's pages as people reach them: under the issuer."""

from flask import current_app


def public_url(endpoint, **values):
    """The URL of `endpoint` under the issuer, in a request or not, whatever host a request
    came to (emails, the CLI, the sweep, the discovery document)."""
    path = current_app.url_map.bind("issuer").build(endpoint, values)
    return current_app.config["ISSUER"] + path
