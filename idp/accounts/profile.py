"""« Gérer son compte »: what a person changes in their own account (docs/parents-journey.md,
« Managing the account »).

- The password: the current one is asked, a credential check throttled like the login
  (action "change_password"); the new one follows the first connection's rules. The other
  sessions and every refresh token are revoked, the session that changed it stays, and the
  account's address is told.
- The email address: the current password is asked too (a stolen session alone cannot move
  the account to another address, then reset its password). The new address receives a
  single-use link valid `EMAIL_CHANGE_DAYS`; it replaces the old one only once the link is
  opened and confirmed, and then the old address is told.
- The language of the pages and of the account's emails.

The callers commit; request budgets (how many forms an address may send) are the views'.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import AccountLink, AccountState, LinkPurpose
from ..throttle import retry_message, throttle
from . import emails
from .addresses import canonical_email, email_problems
from .lifecycle import revoke_everything
from .links import find_link, new_link, spend
from .logouts import Ending
from .passwords import hash_password, new_password_problems, verify_password

# The throttle's action for every check of the current password on these pages.
CURRENT_PASSWORD = "change_password"  # noqa: S105 (a name, not a password)


@dataclass
class Outcome:
    """Messages per field of a refused change, and the seconds to wait when throttled."""

    problems: dict = field(default_factory=dict)
    wait: int = 0

    @property
    def ok(self):
        return not self.problems


def _check_current_password(account, password, ip, purpose):
    """The throttled check of the current password: an Outcome when it is refused, else None."""
    wait = throttle.attempt(CURRENT_PASSWORD, account.identifier, ip)
    if wait:
        audit(f"{purpose}_throttled", account=account, retry_after=wait)
        return Outcome({"current_password": [retry_message(wait)]}, wait)
    if not verify_password(account, password):
        audit(f"{purpose}_wrong_password", account=account)
        return Outcome({"current_password": [_l("Le mot de passe actuel est incorrect.")]})
    throttle.succeeded(CURRENT_PASSWORD, account.identifier, ip)
    return None


def change_password(account, current, password, confirmation, ip, login_session):
    """Replace the password when `current` is right and `password` follows the rules; end
    the account's other sessions (`login_session` stays) and revoke its refresh tokens."""
    refused = _check_current_password(account, current, ip, "password_change")
    if refused is not None and refused.wait:
        return refused
    problems = new_password_problems(account, password, confirmation)
    if not problems and password == current:
        problems["password"] = [_l("Choisissez un mot de passe différent de l'actuel.")]
    if refused is not None:
        problems.update(refused.problems)
    if problems:
        return Outcome(problems)

    account.password_hash = hash_password(password)
    # Every pending link goes too: a reset asked before the change must not undo it, nor an
    # address change asked by someone who knew the old password.
    counts = revoke_everything(account.id, Ending.PASSWORD_CHANGED, except_session=login_session)
    audit("password_changed", account=account, **counts)
    if account.email:
        emails.password_changed(account, now())
    return Outcome()


def may_change_email(account):
    """Only an active account changes its address here; a pending one corrects it on the
    activation page, whose link confirms it."""
    return account.state == AccountState.ACTIVE


def request_email_change(account, current, email, confirmation, ip):
    """Send a confirmation link to the new address when `current` is right and the address
    is valid; the account keeps its address until the link is confirmed."""
    if not may_change_email(account):
        raise ValueError(f"email change of an account in state {account.state}")
    refused = _check_current_password(account, current, ip, "email_change")
    if refused is not None and refused.wait:
        return refused
    email = (email or "").strip()
    problems = email_problems(email, confirmation)
    if not problems:
        email = canonical_email(email)
    if not problems and email.lower() == (account.email or "").lower():
        problems["email"] = [_l("C'est déjà l'adresse de votre compte.")]
    if refused is not None:
        problems.update(refused.problems)
    if problems:
        return Outcome(problems)

    deadline = now() + timedelta(days=current_app.config["EMAIL_CHANGE_DAYS"])
    token = new_link(account, LinkPurpose.EMAIL_CHANGE, email, deadline)
    emails.email_change(account, email, token, deadline)
    audit("email_change_requested", account=account)
    return Outcome()


def pending_email_change(account):
    """The live link that waits to confirm a new address of the account, or None."""
    return db.session.scalar(
        select(AccountLink).where(
            AccountLink.account_id == account.id,
            AccountLink.purpose == LinkPurpose.EMAIL_CHANGE,
            AccountLink.used_at.is_(None),
            AccountLink.expires_at > now(),
        )
    )


def find_email_change(token):
    """The live email-change link `token` opens, if its account may still change its address."""
    link = find_link(token, LinkPurpose.EMAIL_CHANGE)
    if link is None or not may_change_email(link.account):
        return None
    return link


def confirm_email_change(link, login_session=None):
    """The new address becomes the account's (confirmed); the old one is told. None when
    another request spent the link first.

    As after a password change, the account's other sessions end (`login_session`, the
    session of the browser confirming, if it is the account's, stays) and every pending link
    goes: a password reset link went to the old address."""
    account = link.account
    old = account.email
    if not spend(link):
        return None
    account.email = link.email
    account.email_verified = True
    kept = login_session if login_session is not None and login_session.account_id == account.id else None
    revoke_everything(account.id, Ending.EMAIL_CHANGED, except_session=kept)
    audit("email_changed", account=account)
    if old and old.lower() != link.email.lower():
        emails.email_changed(account, old, now())
    return account


def set_language(account, language):
    """The language of the account's emails (the pages follow the session's)."""
    if language not in current_app.config["LANGUAGES"]:
        raise ValueError(f"unknown language {language!r}")
    account.language = language
