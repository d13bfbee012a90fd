"""The deadlines of the life cycle: each Python function and its SQL twin agree over a grid
of dates and states (as tests/test_access.py holds the door rule and its twin), and the
warning email announces the date the sweep will keep."""

import itertools
from datetime import timedelta

from babel.dates import format_date
from sqlalchemy import select, update

from idp.accounts.deadlines import (
    activation_overdue,
    activation_overdue_at,
    invalidation_date,
    invalidation_due,
    invalidation_due_at,
    warning_due,
    warning_due_at,
)
from idp.accounts.sweep import sweep
from idp.clock import now
from idp.extensions import db
from idp.models import Account, AccountKind, AccountState

DAY = timedelta(days=1)

# Days before the reference moment, around each setting's edge (90, 365, 365 - 30, 30 days).
ISSUED = (0, 89, 90, 91, 500)
LAST_USE = (None, 10, 334, 335, 336, 365, 366, 400)
WARNED = (None, 0, 29, 30, 31, 60)
# When the sweep runs, in days after the reference moment.
SWEEPS = (0, 1, 30, 31, 61)


def _cases():
    """(state, issued, activated, last login, warned): one account each."""
    for state, issued, last, warned in itertools.product(AccountState, ISSUED, LAST_USE, WARNED):
        # An account never logged in counts from its activation (or its issue).
        for activated in (None, last) if last is not None else (None, 0):
            yield state, issued, activated, last if activated is None else None, warned


def _grid(reference):
    ago = lambda days: None if days is None else reference - days * DAY  # noqa: E731
    accounts = []
    for number, (state, issued, activated, last, warned) in enumerate(_cases()):
        accounts.append(
            Account(
                kind=AccountKind.PARENT,
                identifier=f"grid.case{number}",
                given_name="Grid",
                family_name="Case",
                state=state,
                # Issued after the last login or activation too: a regenerated account.
                issued_at=ago(issued),
                activated_at=ago(activated),
                last_login_at=ago(last),
                inactivity_warned_at=ago(warned),
            )
        )
    db.session.add_all(accounts)
    db.session.commit()
    return db.session.scalars(select(Account)).all()  # reloaded in one query


TWINS = {
    "expired": (activation_overdue_at, activation_overdue),
    "warned": (warning_due_at, warning_due),
    "invalidated": (invalidation_due_at, invalidation_due),
}


def test_each_deadline_and_its_sql_twin_agree_over_a_grid_of_dates_and_states(app):
    reference = now().replace(microsecond=0)
    with app.app_context():
        accounts = _grid(reference)
        for days, (name, (python, sql)) in itertools.product(SWEEPS, TWINS.items()):
            as_of = reference + days * DAY
            expected = {account.id for account in accounts if python(account, as_of)}
            selected = set(db.session.scalars(select(Account.id).where(sql(as_of))))
            assert selected == expected, (name, days)
        # The grid is not trivial: each deadline is met by some accounts and not by others.
        for name, (python, _) in TWINS.items():
            met = sum(python(account, reference + SWEEPS[-1] * DAY) for account in accounts)
            assert 0 < met < len(accounts), name


def test_an_invalidation_date_is_the_later_of_a_year_unused_and_a_month_warned(app):
    reference = now().replace(microsecond=0)
    with app.app_context():
        [on_time, late, unwarned] = [
            Account(state=AccountState.ACTIVE, last_login_at=reference - 335 * DAY, inactivity_warned_at=reference),
            Account(state=AccountState.ACTIVE, last_login_at=reference - 400 * DAY, inactivity_warned_at=reference),
            Account(state=AccountState.ACTIVE, last_login_at=reference - 400 * DAY),
        ]
        assert invalidation_date(on_time) == reference + 30 * DAY
        assert invalidation_date(late) == reference + 30 * DAY
        on_time.last_login_at = reference - 300 * DAY
        assert invalidation_date(on_time) == reference + 65 * DAY
        assert invalidation_date(unwarned) is None


def test_a_regenerated_account_counts_from_its_new_issue_not_from_a_login_before_it(app):
    reference = now().replace(microsecond=0)
    with app.app_context():
        regenerated = Account(
            state=AccountState.ACTIVE, last_login_at=reference - 400 * DAY, issued_at=reference - 2 * DAY, activated_at=reference - DAY
        )
        assert not warning_due_at(regenerated, reference)
        assert warning_due_at(regenerated, reference - DAY + 335 * DAY)


def test_a_late_sweep_announces_a_date_still_to_come_and_keeps_it(app, make_account, smtp_server):
    make_account(given_name="Late", family_name="Sweep", email="late@example.org")
    # The sweep ran two months late: the account was unused for 400 days when warned.
    as_of = now().replace(hour=12, minute=0, second=0, microsecond=0) + DAY
    with app.app_context():
        long_ago = as_of - 500 * DAY
        db.session.execute(update(Account).values(issued_at=long_ago, activated_at=long_ago, last_login_at=as_of - 400 * DAY))
        db.session.commit()
        assert sweep(as_of=as_of)["warned"] == 1
        db.session.commit()
    [warning] = smtp_server.wait_for(1)
    announced = as_of + 30 * DAY
    body = warning.get_body(("plain",)).get_content()
    assert f"d'ici le {format_date(announced.date(), 'd MMMM y', locale='fr')}" in body
    with app.app_context():
        assert sweep(as_of=announced - DAY)["invalidated"] == 0
        assert sweep(as_of=announced)["invalidated"] == 1
        db.session.commit()
