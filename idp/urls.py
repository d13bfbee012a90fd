"""Addresses of the provider's pages as people reach them: under the issuer."""

from flask import current_app


def public_url(endpoint, **values):
    """The URL of `endpoint` under the issuer, in a request or not (emails, the CLI, the sweep)."""
    path = current_app.url_map.bind("issuer").build(endpoint, values)
    return current_app.config["ISSUER"] + path
