"""Who may log in where: the checks every login path shares (design §3)."""

from sqlalchemy import select

from ..extensions import db
from ..models import Account, AccountState
from .identifiers import normalize

# States in which a person may open a session on the provider's own pages: a pending
# account must still reach them to resend its activation email or correct the address.
PROVIDER_STATES = {AccountState.ACTIVE, AccountState.PENDING_EMAIL}


def find_account(identifier):
    return db.session.scalar(select(Account).where(Account.identifier == normalize(identifier)))


def provider_refusal(account):
    """Why `account` may not open a session here, or None."""
    if account.state in PROVIDER_STATES:
        return None
    return account.state.value


def relying_party_refusal(account, client):
    """Why `account` may not log in to `client`, or None (the reason names a page section)."""
    if account.state != AccountState.ACTIVE:
        return account.state.value
    if client.category == "teleservice" and account.teleservices_refused:
        # The reply coupon refuses téléservices; it has no effect on the ENT.
        return "teleservices_refused"
    return None
