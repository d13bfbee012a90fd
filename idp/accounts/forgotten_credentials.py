"""« mot de passe oublié » and « identifiant oublié » (docs/parents-journey.md,
« Lost password or identifier »).

Password: the person gives an identifier; an account that may log in here (active, or
pending its activation) and has an address receives a single-use link and a temporary
password, both living `PASSWORD_RESET_MINUTES` and stored as keyed hashes (the link row of
`links.py`). The current password works until the link's page sets a new one; then every
session, token and pending link of the account is revoked and a notification is sent. An
account in another state gets no reset: its address, if it has one, is told to contact the
establishment.

Identifier: the person gives an address; the identifiers of the accounts attached to it
(the address given at first connection or confirmed since, never the school file's) go
out in one email, each with its child(ren) and school. The password is unchanged.

Neither request tells whether anything matched, by its page or by its time: the request
only queues a job (`idp.deferred`) and answers; the job, after the commit and in the
background, looks the identifier or address up, decides and writes the email to the outbox.
An account receives at most `RECOVERY_EMAILS` reset emails (an address as many reminders),
whoever asks; a new reset inside that budget leaves the links sent before it valid, so that
a stranger asking again cannot cancel the link the family is about to open.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_babel.speaklater import LazyString
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..audit import audit
from ..clock import now
from ..deferred import defer
from ..extensions import db
from ..metrics import PASSWORD_RESET_REQUESTS, PASSWORD_RESETS
from ..models import Account, AccountState, Guardianship, LinkPurpose, Pupil
from ..security import keyed_hash_matches
from ..throttle import throttle
from . import emails
from .access import PROVIDER_STATES, find_account
from .addresses import canonical_email
from .identifiers import normalize
from .lifecycle import canonical_secret, new_provisional_secret, revoke_everything
from .links import find_link, new_link, spend
from .logouts import Ending
from .passwords import hash_password, new_password_problems

# The states whose password may be reset online: those that may open a session here.
RESETTABLE = PROVIDER_STATES


def reset_lifetime():
    return timedelta(minutes=current_app.config["PASSWORD_RESET_MINUTES"])


def lifetime_words():
    """How long a reset link lives, as a person says it ("1 heure", "90 minutes"), in the
    language of the page or email it ends up in (lazy)."""
    return LazyString(_lifetime_words, current_app.config["PASSWORD_RESET_MINUTES"])


def _lifetime_words(minutes):
    if minutes % 60 == 0:
        return ngettext("%(num)d heure", "%(num)d heures", minutes // 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


def request_password_reset(identifier, ip):
    """« mot de passe oublié » for `identifier`, asked from `ip`: the same work whatever it
    names (the decision runs after the commit, `answer_password_reset`). The caller commits."""
    defer(answer_password_reset, normalize(identifier), ip)


def answer_password_reset(identifier, ip):
    """What the account `identifier` names receives: a link and a temporary password, the
    establishment's address to contact, or nothing (unknown, no address, or past its budget)."""
    account = find_account(identifier)
    if account is None:
        outcome = "unknown"
    elif account.state not in RESETTABLE:
        outcome = "refused" if account.email else "refused_without_email"
    else:
        outcome = "sent" if account.email else "no_email"
    if outcome in ("sent", "refused") and throttle.budget_spent("password_reset_email", str(account.id)):
        outcome = "over_budget"

    if outcome == "sent":
        secret = new_provisional_secret()  # the letters' format: 60 bits, K7PM-4XQR-9HTW
        expires_at = now() + reset_lifetime()
        token = new_link(account, LinkPurpose.PASSWORD_RESET, account.email, expires_at, secret=canonical_secret(secret), replace=False)
        emails.password_reset(account, token, secret, lifetime_words())
    elif outcome == "refused":
        emails.password_reset_refused(account)
    audit("password_reset_requested", account=account, ip=ip, identifier=identifier, outcome=outcome)
    PASSWORD_RESET_REQUESTS.labels(outcome=outcome).inc()


def find_reset(token):
    """The live reset link `token` opens, if its account may still reset its password there,
    or None (used, replaced, expired, unknown, account ended, or address changed since)."""
    link = find_link(token, LinkPurpose.PASSWORD_RESET)
    if link is None or link.account.state not in RESETTABLE or link.email != link.account.email or link.secret_hash is None:
        return None
    return link


@dataclass
class ResetOutcome:
    """What a try on the link's page gave: problems per field, whether the temporary
    password was wrong (a failure to count), or success."""

    problems: dict = field(default_factory=dict)
    wrong_secret: bool = False

    @property
    def ok(self):
        return not self.problems


def complete_password_reset(link, temporary_password, password, confirmation):
    """Check the link's form; when everything is right, set the new password, spend the
    link, revoke every session and token of the account and queue the notification.
    The caller commits in every case (a wrong temporary password is audited)."""
    account = link.account
    problems = {}
    wrong_secret = not keyed_hash_matches(canonical_secret(temporary_password), link.secret_hash)
    if wrong_secret:
        problems["temporary_password"] = [_l("Le mot de passe temporaire est incorrect.")]
    problems.update(new_password_problems(account, password, confirmation))
    if wrong_secret:
        audit("password_reset_failed", account=account)
        return ResetOutcome(problems, wrong_secret=True)
    if problems:
        return ResetOutcome(problems)

    if not spend(link):
        return ResetOutcome({"temporary_password": [_l("Ce lien a déjà servi : demandez un nouveau lien si besoin.")]})
    account.password_hash = hash_password(password)
    revoke_everything(account.id, Ending.PASSWORD_RESET)
    audit("password_reset", account=account)
    PASSWORD_RESETS.inc()
    emails.password_reset_done(account)
    return ResetOutcome()


def accounts_attached_to(*forms):
    """The accounts whose address is one of `forms` (an address's canonical form and the form
    typed: an address stored before the canonical form may keep a Unicode domain): the one
    given at first connection or confirmed since (an issued account's school-file address
    does not count). Each is compared as given and in lower case, the way people write it;
    the index serves both."""
    candidates = {form for email in forms for form in (email, email.lower())}
    # One statement whether or not anything matches (joined, not a query per relation).
    return (
        db.session.scalars(
            select(Account)
            .where(Account.email.in_(candidates), Account.first_connection_at.is_not(None), Account.state != AccountState.ISSUED)
            .options(
                joinedload(Account.guardianships).joinedload(Guardianship.pupil).joinedload(Pupil.establishment),
                joinedload(Account.pupil).joinedload(Pupil.establishment),
            )
            .order_by(Account.identifier)
        )
        .unique()
        .all()
    )


def request_identifiers(email, ip):
    """« identifiant oublié » for `email`, asked from `ip`: the same work whatever it finds
    (the decision runs after the commit, `answer_identifiers`). The caller checked the
    address (`addresses.address_problems`) and commits."""
    defer(answer_identifiers, email.strip(), ip)


def answer_identifiers(typed, ip):
    """One email listing the identifiers attached to the address `typed`, if any, within
    the address's budget."""
    email = canonical_email(typed) or typed
    accounts = accounts_attached_to(email, typed)
    sent = bool(accounts) and not throttle.budget_spent("identifier_email", email.lower())
    if sent:
        emails.identifiers(accounts)
    audit("identifier_reminder_requested", ip=ip, accounts=len(accounts), **({} if sent or not accounts else {"over_budget": True}))
