"""Database errors: a web request's statement cancelled by STATEMENT_TIMEOUT (PostgreSQL)
becomes a French page and the worker goes on; the command line runs without that limit; no
error's logged or printed text carries a statement's values (hide_parameters, and
PostgreSQL's DETAIL left out). The failing statements come from routes and a command that
only these tests add."""

import logging
from datetime import date

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import text

from idp.cli import DATABASE_REFUSED, main
from idp.extensions import db
from idp.models import Establishment, Pupil

SECRET_NAME = "Zéphyrine-Oriane"
SECRET_DAY = date(2012, 5, 4)


@pytest.fixture
def postgresql(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("statement_timeout is PostgreSQL's")


def sleeping(app):
    """Routes whose statement sleeps two seconds: a page, and a protocol endpoint (JSON)."""

    def sleep():
        db.session.execute(text("SELECT pg_sleep(2)"))
        return "réveillé"

    app.add_url_rule("/test/sommeil", "test_sleep", sleep)
    app.add_url_rule("/.well-known/test-sommeil", "test_sleep_json", sleep)
    return app


def test_a_statement_past_the_timeout_gives_a_french_page_and_the_worker_goes_on(postgresql, settings, make_app, establishment, caplog):
    app = sleeping(make_app(settings | {"STATEMENT_TIMEOUT": 200}))
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="idp"):
        page = client.get("/test/sommeil")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "60"
    assert "Votre demande a pris trop de temps et a été interrompue : rien n'a été enregistré." in page.text
    assert "Traceback" not in page.text and "pg_sleep" not in page.text
    assert "statement cancelled after 200 ms on GET /test/sommeil" in caplog.text
    assert "Traceback" not in caplog.text
    answer = client.get("/.well-known/test-sommeil")
    assert (answer.status_code, answer.json) == (503, {"error": "temporarily_unavailable"})
    # The worker, its connections and its session serve the next requests.
    assert client.get("/connexion").status_code == 200
    with app.app_context():
        assert db.session.scalar(text("SHOW statement_timeout")) == "200ms"
        assert db.session.scalar(db.select(Establishment.uai)) == "0140001A"


def test_the_command_line_has_no_statement_timeout(postgresql, settings, make_app):
    command_line = make_app(settings | {"STATEMENT_TIMEOUT": 200}, command_line=True)
    with command_line.app_context():
        assert db.session.scalar(text("SHOW statement_timeout")) == "0"
        db.session.execute(text("SELECT pg_sleep(0.4)"))
    web = make_app(settings | {"STATEMENT_TIMEOUT": 0})
    with web.app_context():
        assert db.session.scalar(text("SHOW statement_timeout")) == "0"


def test_every_engine_hides_the_parameters(settings, make_app):
    for command_line in (False, True):
        app = make_app(settings | {"SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": False}}, command_line=command_line)
        with app.app_context():
            assert db.engine.hide_parameters is True


def failing_insert():
    """A pupil without a family name: refused by the database (NOT NULL), with the values of
    the row in PostgreSQL's DETAIL."""
    establishment = db.session.scalar(db.select(Establishment))
    db.session.add(Pupil(given_name=SECRET_NAME, family_name=None, birth_date=SECRET_DAY, establishment=establishment))
    db.session.flush()


def test_a_database_error_on_a_page_is_logged_without_the_values(app, establishment, caplog):
    def view():
        failing_insert()
        return "jamais"

    app.add_url_rule("/test/erreur", "test_error", view)
    with caplog.at_level(logging.ERROR, logger="idp"):
        page = app.test_client().get("/test/erreur")
    assert page.status_code == 500
    assert "unhandled database error on GET /test/erreur" in caplog.text
    assert "IntegrityError" in caplog.text or "NotNullViolation" in caplog.text
    assert "INSERT INTO pupil" in caplog.text and "in view" in caplog.text  # the statement and where
    for value in (SECRET_NAME, "Zéphyrine", str(SECRET_DAY), "2012"):
        assert value not in caplog.text
        assert value not in page.text


def test_a_database_error_of_a_command_is_one_line_without_the_values(app, establishment, caplog):
    @app.cli.command("test-erreur")
    def failing():
        failing_insert()

    with caplog.at_level(logging.ERROR, logger="idp"):
        result = CliRunner().invoke(main, ["test-erreur"], obj=ScriptInfo(create_app=lambda: app), env={"FLASK_RUN_FROM_CLI": None})
    assert result.exit_code == 1
    assert result.output.strip().endswith(DATABASE_REFUSED)
    assert "Traceback" not in result.output
    assert "database error: " in caplog.text
    for value in (SECRET_NAME, str(SECRET_DAY)):
        assert value not in result.output and value not in caplog.text
