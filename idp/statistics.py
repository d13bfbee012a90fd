"""The planner's statistics after a bulk write.

PostgreSQL plans a query from the statistics of its tables, which autovacuum refreshes once
a good share of a table has changed, some time later. A school's import or issue can
multiply a table's rows in one transaction: until the statistics catch up, the dashboard's
statements would be planned for the table as it was (an import that left them stale once
made one run for a quarter of an hour). So the bulk writes refresh them themselves, inside
their transaction: ANALYZE counts the rows the transaction wrote, and its results become
visible with the commit (dropped with a rollback). SQLite's planner needs nothing here.
"""

from .extensions import db


def refresh_statistics(*models):
    """ANALYZE the tables of `models` (PostgreSQL only)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    tables = ", ".join(db.session.get_bind().dialect.identifier_preparer.format_table(model.__table__) for model in models)
    db.session.execute(db.text(f"ANALYZE {tables}"))
