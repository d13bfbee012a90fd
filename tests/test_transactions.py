"""The request's transaction: a view that returns leaves no write uncommitted (it would be
dropped without a word), a view that raises drops its writes (idp.transactions)."""

import logging

import pytest
from flask import abort
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import AuditEvent, Establishment
from idp.schools.establishments import add_establishment
from idp.transactions import UncommittedWrites


def _views(app):
    def forgotten():
        add_establishment("0140002B", "Collège oublié")
        return "ok"

    def forgotten_update():
        db.session.execute(update(Establishment).values(name="Renommé"))
        return "ok"

    def committed():
        add_establishment("0140003C", "Collège enregistré")
        db.session.commit()
        return "ok"

    def aborted():
        add_establishment("0140004D", "Collège abandonné")
        db.session.flush()
        abort(404)

    def rolled_back():
        add_establishment("0140005E", "Collège annulé")
        db.session.rollback()
        return "ok"

    for view in (forgotten, forgotten_update, committed, aborted, rolled_back):
        app.add_url_rule(f"/{view.__name__}", view_func=view)


def _names(app):
    with app.app_context():
        return set(db.session.scalars(select(Establishment.name)))


def test_a_view_that_returns_with_writes_it_did_not_commit_fails_its_test(app, client, establishment, caplog):
    _views(app)
    with pytest.raises(UncommittedWrites):
        client.get("/forgotten")
    with pytest.raises(UncommittedWrites):
        client.get("/forgotten_update")
    assert _names(app) == {"Collège Jean Moulin"}
    assert "writes its view did not commit" in caplog.text


def test_a_view_that_commits_rolls_back_or_aborts_passes(app, client, establishment):
    _views(app)
    assert client.get("/committed").status_code == 200
    assert client.get("/aborted").status_code == 404
    assert client.get("/rolled_back").status_code == 200
    assert _names(app) == {"Collège Jean Moulin", "Collège enregistré"}


def test_in_production_the_forgotten_writes_are_logged_and_the_page_still_answers(settings, make_app, caplog):
    app = make_app(settings | {"TESTING": False})
    _views(app)
    caplog.set_level(logging.ERROR, logger="idp")
    assert app.test_client().get("/forgotten").status_code == 200
    assert [record.getMessage() for record in caplog.records if record.name == "idp"] == [
        "a request ended with writes its view did not commit; they are rolled back"
    ]
    assert _names(app) == set()
    with app.app_context():
        assert db.session.scalar(select(AuditEvent)) is None
