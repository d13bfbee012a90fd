"""The emails of the life cycle: one small sender each over the outbox's `send`
(docs/architecture.md, « Mail »).

Each renders `templates/mail/<name>.txt` and `.html` in the account's language; the only
secret an email carries is its link (and, for a password reset, the temporary password).
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..mail import send
from ..models import Account
from ..urls import public_url
from .access import PROVIDER_STATES, pupils_of
from .addresses import is_email
from .deadlines import activation_deadline, invalidation_date


def _send(holder, to, template, /, **context):
    """`send` to `to` for the account `holder`, except for an address stored before the rule
    of every address, which the mailer refuses: nothing is queued, an audit row says so
    (`mail_address_refused`, the template, never the address), and the page or the sweep
    goes on. The person corrects the address on the pending page or on « gérer son compte »."""
    if not is_email(to or ""):
        audit("mail_address_refused", account=holder, template=template)
        return None
    return send(to, template, **context)


def activation(account, token):
    _send(
        account,
        account.email,
        "activation",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        link=public_url("activation.activation", token=token),
        deadline=activation_deadline(account),
    )


def password_reset_context(name, identifier, token, temporary_password, lifetime):
    return {
        "name": name,
        "account": identifier,
        "link": public_url("recovery.reset_password", token=token),
        "temporary_password": temporary_password,
        "lifetime": lifetime,
    }


def password_reset(account, token, temporary_password, lifetime):
    """« mot de passe oublié »: the link and, on its own line, the temporary password."""
    context = password_reset_context(account.full_name, account.identifier, token, temporary_password, lifetime)
    _send(account, account.email, "password_reset", language=account.language, **context)


def password_reset_refused(account):
    """« mot de passe oublié » for an account that cannot reset online: ask the establishment."""
    _send(
        account,
        account.email,
        "password_reset_refused",
        language=account.language,
        name=account.full_name,
        account=account.identifier,
        state=account.state.value,
    )


def password_reset_done(account):
    """The password was changed through « mot de passe oublié »: sessions closed, what to do if it was not them."""
    _send(
        account,
        account.email,
        "password_reset_done",
        language=account.language,
        name=account.full_name,
        account=account.identifier,
        moment=now(),
        forgotten_url=public_url("recovery.forgotten_password"),
    )


def identifiers_context(accounts):
    """One line per account: its identifier, the pupils it is for (a parent's children, or
    the pupil) and their schools, and a word when it can no longer be used. Lazy strings:
    they are translated when the email is rendered, in its language."""
    lines = []
    for account in accounts:
        pupils = pupils_of(account)
        line = account.identifier
        if pupils:
            names = [_l("%(name)s, %(school)s", name=pupil.full_name, school=pupil.establishment.name) for pupil in pupils]
            line = _l("%(identifier)s : %(pupils)s", identifier=account.identifier, pupils=LazyJoin(" ; ", names))
        if account.state not in PROVIDER_STATES:
            line = _l("%(line)s (compte à renouveler : contactez l'établissement)", line=line)
        lines.append(line)
    return {"lines": lines, "login_url": public_url("auth.login")}


class LazyJoin:
    """`separator.join(parts)` of lazy strings, joined when rendered."""

    def __init__(self, separator, parts):
        self.separator = separator
        self.parts = parts

    def __str__(self):
        return self.separator.join(str(part) for part in self.parts)


def identifiers(accounts):
    """« identifiant oublié »: one email listing every identifier attached to the address."""
    _send(accounts[0], accounts[0].email, "identifiers", language=accounts[0].language, **identifiers_context(accounts))


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
        chosen = select(Account).where(Account.id.in_(chunk), Account.email.is_not(None))
        # Fresh rows: the date announced is computed from the warning just recorded.
        for account in db.session.scalars(chosen.execution_options(populate_existing=True)):
            _send(
                account,
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
    _send(
        account,
        account.email,
        "password_changed",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        moment=moment,
        recovery_url=public_url("recovery.forgotten_password"),
    )


def email_change(account, new_email, token, deadline):
    """The link that confirms `new_email` as the account's address, sent to that address."""
    _send(
        account,
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
    _send(
        account,
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
