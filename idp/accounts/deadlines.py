"""When the deadlines of the life cycle fall (docs/life-cycle.md, « Deadlines »), in Python and
as SQL.

- an issued account must be activated within `ACTIVATION_DAYS` of its issue (the
  activation link lives as long), or it becomes `expired`;
- an active account unused for `INACTIVITY_DAYS` becomes `invalidated`, after a warning
  email `INACTIVITY_WARNING_DAYS` before.

The Python functions serve pages and letters; the SQL conditions serve the sweep, which
applies them to every account at once.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import func

from ..models import Account, AccountState

# States that wait for activation, and so for its deadline.
AWAITING_ACTIVATION = (AccountState.ISSUED, AccountState.PENDING_EMAIL)


def _days(name):
    return timedelta(days=current_app.config[name])


def activation_deadline(account):
    """When an issued account must be activated by, and its activation link dies."""
    return account.issued_at + _days("ACTIVATION_DAYS")


def last_use(account):
    """What inactivity counts from: the last login, or the activation for an unused account."""
    return account.last_login_at or account.activated_at or account.issued_at


def invalidation_date(account):
    return last_use(account) + _days("INACTIVITY_DAYS")


# SQL twins, for the sweep: conditions on the `account` table as of the moment `as_of`.

LAST_USE = func.coalesce(Account.last_login_at, Account.activated_at, Account.issued_at)


def activation_overdue(as_of):
    return Account.state.in_(AWAITING_ACTIVATION) & (Account.issued_at <= as_of - _days("ACTIVATION_DAYS"))


def warning_due(as_of):
    """Active, inside the warning window before invalidation, and not yet warned."""
    warn_from = as_of - _days("INACTIVITY_DAYS") + _days("INACTIVITY_WARNING_DAYS")
    return (Account.state == AccountState.ACTIVE) & (warn_from >= LAST_USE) & Account.inactivity_warned_at.is_(None)


def invalidation_due(as_of):
    """Active, unused for the whole delay, and warned at least the warning delay ago."""
    return (
        (Account.state == AccountState.ACTIVE)
        & (as_of - _days("INACTIVITY_DAYS") >= LAST_USE)
        & (Account.inactivity_warned_at <= as_of - _days("INACTIVITY_WARNING_DAYS"))
    )
