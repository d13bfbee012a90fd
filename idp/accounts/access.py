"""Who may log in where: the checks every login path shares (design §3)."""

from datetime import timedelta

from sqlalchemy import and_, false, or_, select

from ..clock import now
from ..extensions import db
from ..models import Account, AccountState, Client
from .identifiers import normalize

# States in which a person may open a session on the provider's own pages: a pending
# account must still reach them to resend its activation email or correct the address.
PROVIDER_STATES = {AccountState.ACTIVE, AccountState.PENDING_EMAIL}


# Last use is what the 12-month invalidation counts from; hour precision is plenty, and
# spares a write on every single sign-on.
USE_PRECISION = timedelta(hours=1)


def note_use(account):
    """Record that the account was used now (a login, or a login to a relying party)."""
    moment = now()
    if account.last_login_at is None or moment - account.last_login_at >= USE_PRECISION:
        account.last_login_at = moment
        # A use answers the inactivity warning: the count starts again.
        account.inactivity_warned_at = None


def find_account(identifier):
    return db.session.scalar(select(Account).where(Account.identifier == normalize(identifier)))


def provider_refusal(account):
    """Why `account` may not open a session here, or None."""
    if account.state in PROVIDER_STATES:
        return None
    return account.state.value


def relying_party_refusal(account, client):
    """Why `account` may not log in to `client`, or None (the reason names a page section).

    Every door to a relying party asks: authorization, code and refresh token exchange,
    userinfo, introspection. The hot paths use `relying_party_admits`, its SQL form.
    """
    if account.state != AccountState.ACTIVE:
        return account.state.value
    if client.category == "teleservice" and account.teleservices_refused:
        # The reply coupon refuses téléservices; it has no effect on the ENT.
        return "teleservices_refused"
    return None


def relying_party_admits():
    """`relying_party_refusal is None` as an SQL condition on Account and Client rows, for
    the WHERE clause of a query that joins both (keep the two in step)."""
    return and_(
        Account.state == AccountState.ACTIVE,
        or_(Client.category != "teleservice", Account.teleservices_refused == false()),
    )
