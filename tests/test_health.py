"""Health and readiness (idp.health): what a load balancer asks every second."""

from datetime import timedelta

import pytest
from sqlalchemy import make_url, text

from idp.extensions import db
from idp.oidc.keys import PUBLISH_AHEAD, REFRESH_INTERVAL, KeyStore

from .conftest import PASSWORD
from .test_login import post_login
from .travel import frozen, moment


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_healthz_answers_even_when_the_database_does_not(make_app, settings, unreachable_database):
    app = make_app(settings | {"DATABASE_URL": unreachable_database})
    assert app.test_client().get("/healthz").json == {"status": "ok"}


def test_ready_when_everything_answers(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    redis = "ok" if settings["REDIS_URL"] else "off"
    assert response.json == {"status": "ok", "checks": {"database": "ok", "keys": "ok", "redis": redis}}
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_probes_need_no_csrf_token_nor_session_and_set_no_cookie(client, parent):
    """A logged-in browser asking the probes gets no cookie either (nothing is refreshed)."""
    post_login(client, "jean.dupont1", PASSWORD)
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers


@pytest.fixture
def unreachable_database(database_url, tmp_path):
    """A database that cannot be reached: a SQLite file in a folder that does not exist, or a
    PostgreSQL port where nothing listens."""
    if database_url.startswith("postgresql"):
        return make_url(database_url).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    return f"sqlite:///{tmp_path / 'missing-folder' / 'idp.sqlite3'}"


def test_not_ready_when_the_database_does_not_answer(make_app, settings, unreachable_database):
    app = make_app(settings | {"DATABASE_URL": unreachable_database})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"] == "unreachable"
    assert response.json["checks"]["keys"] == "unknown"
    # Nothing of the URL, the error or the settings.
    assert "127.0.0.1" not in response.text and "sqlite" not in response.text


def test_degraded_but_ready_when_redis_does_not_answer(make_app, settings, closed_port, parent):
    app = make_app(settings | {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "degraded", "checks": {"database": "ok", "keys": "ok", "redis": "down"}}
    # Asked again within the retry interval: not even tried, still degraded; logins go on.
    assert client.get("/readyz").json["checks"]["redis"] == "down"
    assert post_login(client, "jean.dupont1", PASSWORD).status_code == 303


def test_redis_that_answers_again_is_seen_by_the_next_check(make_app, settings, parent):
    if not settings["REDIS_URL"]:
        pytest.skip("needs a Redis (IDP_TEST_REDIS_URL)")
    app = make_app(settings | {"THROTTLE_REDIS_RETRY": 30})
    counters = app.extensions["idp.throttle"]
    with frozen() as traveller:
        counters._went_down(ConnectionError("gone"))  # as a failed check would record it
        assert app.test_client().get("/readyz").json["checks"]["redis"] == "down"
        traveller.shift(31)
        assert app.test_client().get("/readyz").json == {"status": "ok", "checks": {"database": "ok", "keys": "ok", "redis": "ok"}}


def test_not_ready_without_a_key_to_sign(app, make_app, settings, tmp_path):
    """A node whose keys folder lacks the key the database names: it started while the
    database was away (the keys are then read at first use), or its folder was emptied."""
    assert app.test_client().get("/readyz").json["checks"]["keys"] == "ok"  # the key of the table
    empty = tmp_path / "empty-keys"
    empty.mkdir()
    other = make_app(settings | {"KEYS_DIR": str(empty)}, command_line=True)
    response = other.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "ok", "keys": "missing", "redis": response.json["checks"]["redis"]},
    }
    assert str(empty) not in response.text


def test_degraded_while_an_older_key_stands_in_for_one_whose_file_is_missing(app, tmp_path):
    """Another node rotated the keys; this one never got the new file: once the new key is
    due, this node signs with the previous one (still published) and says so."""
    client = app.test_client()
    start = moment()
    with frozen(start) as traveller:
        assert client.get("/readyz").json["checks"]["keys"] == "ok"
        with app.app_context():
            other_node = KeyStore(str(tmp_path / "other-node-keys"), app.config["ID_TOKEN_LIFETIME"], db.engine)
            other_node.rotate()
        traveller.shift(PUBLISH_AHEAD + timedelta(seconds=REFRESH_INTERVAL + 1))
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json["status"] == "degraded"
        assert response.json["checks"]["keys"] == "stand_in"


@pytest.fixture
def schema_at(app):
    """schema_at(revision): the database stamped at another Alembic revision until the test ends."""
    with app.app_context():
        current = db.session.scalar(text("SELECT version_num FROM alembic_version"))

    def stamp(revision):
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})
            db.session.commit()

    yield stamp
    stamp(current)


def test_not_ready_when_the_schema_is_not_at_the_code_head(app, client, schema_at):
    schema_at("0007")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "not_migrated"
    assert "0007" not in response.text


def test_not_ready_on_a_database_never_migrated(make_app, settings, database_url, tmp_path):
    if database_url.startswith("postgresql"):
        unmigrated = database_url + "?options=-csearch_path%3Dunmigrated"
    else:
        unmigrated = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    app = make_app(settings | {"DATABASE_URL": unmigrated})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "not_migrated"
