"""Flask extensions, created here and bound to the application in `create_app`."""

from collections.abc import Sequence

import psycopg
from flask_babel import Babel
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so that Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
mail = Mail()


class LazilyDescribedCursor(psycopg.Cursor):
    """psycopg's cursor, which builds the description of a result's columns only when one of
    them is read (PostgreSQL engines use it: idp.create_app).

    SQLAlchemy asks every result for its description, but reads the columns only the first
    time a statement runs, then keeps the result's shape with the compiled statement; psycopg
    builds an object per column each time, a third of the CPU of a wide SELECT on the hot
    paths. The columns are those of the cursor's current result when first read, which
    SQLAlchemy does right after executing (a cursor per statement).
    """

    @property
    def description(self):
        result = self.pgresult
        if result is None or (not result.nfields and result.status not in _ROWS):
            return None
        return _Columns(self, result.nfields)


# The statuses of a result that returns rows (psycopg returns a description for them even
# when they have no column).
_ROWS = {psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.SINGLE_TUPLE, psycopg.pq.ExecStatus.TUPLES_CHUNK}


class _Columns(Sequence):
    __slots__ = ("_count", "_cursor", "_described")

    def __init__(self, cursor, count):
        self._cursor, self._count, self._described = cursor, count, None

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        if self._described is None:
            self._described = psycopg.Cursor.description.fget(self._cursor)
        return self._described[index]
