"""Addresses of the provider's pages as people reach them: under the issuer."""

from flask import current_app
from werkzeug.routing import IntegerConverter

# The largest id of an integer column (PostgreSQL's `integer`).
MAX_ID = 2**31 - 1


class RowId(IntegerConverter):
    """`<id:name>` in a route: a row's id, 1 to MAX_ID, so that a larger number in an address
    is an unknown page (404), never a statement the database refuses."""

    def __init__(self, map):
        super().__init__(map, min=1, max=MAX_ID)


def public_url(endpoint, **values):
    """The URL of `endpoint` under the issuer, in a request or not, whatever host a request
    came to (emails, the CLI, the sweep, the discovery document)."""
    path = current_app.url_map.bind("issuer").build(endpoint, values)
    return current_app.config["ISSUER"] + path
