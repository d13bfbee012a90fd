"""How the provider talks to PostgreSQL: psycopg cursors that describe a result's columns
only when asked, with the same description as psycopg's own."""

import psycopg
from sqlalchemy import select, text

from idp.extensions import db
from idp.models import Client
from idp.oidc.fast_path import LazilyDescribedCursor


def psycopg_description(cursor):
    return psycopg.Cursor.description.fget(cursor)


def test_cursors_describe_their_results_like_psycopg(postgresql, app):
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            assert isinstance(cursor, LazilyDescribedCursor)
            cursor.execute("SELECT 1 AS one, 'two'::text AS two")
            described = cursor.description
            assert len(described) == 2
            assert [(column.name, column.type_code) for column in described] == [
                (column.name, column.type_code) for column in psycopg_description(cursor)
            ]
            assert described[-1].name == "two"
            cursor.execute("SELECT")  # rows without any column
            assert list(cursor.description) == psycopg_description(cursor) == []
            cursor.execute("SET application_name = 'idp-test'")  # no rows at all
            assert cursor.description is None
        finally:
            connection.close()


def test_sqlalchemy_results_keep_their_columns(postgresql, app, ent):
    with app.app_context():
        statement = select(Client.client_id, Client.category)
        for _ in range(2):  # the second run reuses the shape SQLAlchemy kept
            result = db.session.execute(statement)
            assert list(result.keys()) == ["client_id", "category"]
            assert result.one().category == "ent"
        assert db.session.execute(text("SELECT 1 AS a, 2 AS b")).mappings().one() == {"a": 1, "b": 2}
