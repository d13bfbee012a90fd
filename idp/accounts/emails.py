"""The emails of the life cycle: one small sender each over the outbox's `send` (design §7).

Each renders `templates/mail/<name>.txt` and `.html` in the account's language; the only
secret an email carries is its link (and, for a password reset, the temporary password).
"""

from sqlalchemy import select, update

from ..extensions import db
from ..mail import send
from ..models import Account
from ..urls import public_url
from .deadlines import activation_deadline, invalidation_date


def activation(account, token):
    send(
        account.email,
        "activation",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        link=public_url("activation.activation", token=token),
        deadline=activation_deadline(account),
    )


def inactivity_warnings(condition, as_of):
    """Mark the accounts that `condition` selects as warned (one statement), then queue their
    warning emails; return how many accounts were warned."""
    warned = db.session.scalars(
        update(Account).where(condition).values(inactivity_warned_at=as_of).returning(Account.id),
        execution_options={"synchronize_session": False},
    ).all()
    login_url = public_url("auth.login")
    for start in range(0, len(warned), 1000):
        chunk = warned[start : start + 1000]
        for account in db.session.scalars(select(Account).where(Account.id.in_(chunk), Account.email.is_not(None))):
            send(
                account.email,
                "inactivity_warning",
                language=account.language,
                account=account.identifier,
                name=account.full_name,
                deadline=invalidation_date(account),
                login_url=login_url,
            )
    return len(warned)


def password_changed(account, moment):
    """Tells the account's address that its password was changed, and what to do if that
    was not its holder."""
    send(
        account.email,
        "password_changed",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        moment=moment,
        recovery_url=public_url("auth.forgotten_password"),
    )


def email_change(account, new_email, token, deadline):
    """The link that confirms `new_email` as the account's address, sent to that address."""
    send(
        new_email,
        "email_change",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        link=public_url("account.confirm_email", token=token),
        deadline=deadline,
    )


def email_changed(account, old_email, moment):
    """Tells the old address that the account's address changed (the new one half hidden)."""
    send(
        old_email,
        "email_changed",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        moment=moment,
        new_email=masked_email(account.email),
        login_url=public_url("auth.login"),
    )


def masked_email(address):
    """An address as told to someone who may not own it any more: "j…@example.org"."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"
