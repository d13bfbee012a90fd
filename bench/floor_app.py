"""The framework floor: a bare Flask application, served the same way as the provider.

What the provider's hot paths are compared with. `GET /hello` is the least a Flask view can
do under the chosen WSGI server (the floor of discovery and JWKS, which serve prepared
documents); `GET /one-query` adds one indexed SELECT on the provider's own database,
through SQLAlchemy and psycopg 3 with a pool sized like the provider's (the floor of
refresh and userinfo, which must at least read the database once).

No Flask extension, no session, no template: whatever the provider costs above these
figures is its own code.

    IDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/idp_bench gunicorn floor_app:app
"""

import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

app = Flask(__name__)

# The provider's URL and engine options (idp/__init__.py): a pool of 10 plus 10 overflow
# connections, no pre-ping, so that a request pays what the provider's requests pay.
DATABASE_URL = os.environ["IDP_DATABASE_URL"]
POOL = {"pool_size": 10, "max_overflow": 10, "pool_recycle": 3600} if DATABASE_URL.startswith("postgresql") else {}
engine = create_engine(DATABASE_URL, **POOL)

# The account table's unique index on `identifier`, as the provider's login looks people up.
ONE_ACCOUNT = text("SELECT sub, given_name, family_name FROM account WHERE identifier = :identifier")


@app.get("/hello")
def hello():
    return "hello", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/one-query")
def one_query():
    # A transaction like the provider's: BEGIN, the SELECT, then ROLLBACK as the connection
    # goes back to the pool; the same round trips as a provider's request that reads once.
    with engine.connect() as connection:
        row = connection.execute(ONE_ACCOUNT, {"identifier": request.args["identifier"]}).one_or_none()
    if row is None:
        return jsonify(error="not_found"), 404
    return jsonify(sub=row.sub, given_name=row.given_name, family_name=row.family_name)


def _bare_in_front(wsgi_app):
    """`GET /bare`: "hello" from a plain WSGI callable, before Flask. What the server itself
    costs per request (bench/instructions.py), the least any application can cost."""
    body = b"hello"
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]

    def application(environ, start_response):
        if environ.get("PATH_INFO") != "/bare":
            return wsgi_app(environ, start_response)
        start_response("200 OK", list(headers))
        return [body]

    return application


app.wsgi_app = _bare_in_front(app.wsgi_app)
