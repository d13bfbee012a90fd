"""The tables, split by domain. Importing this package registers every model."""

from .audit import AuditEvent
from .oauth import AuthorizationCode, Client, Consent, Token
from .outbox import MailStatus, OutboxMessage
from .people import Account, AccountKind, AccountState, Establishment, Guardianship, Pupil
from .sessions import LoginSession

__all__ = [
    "Account",
    "AccountKind",
    "AccountState",
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "Consent",
    "Establishment",
    "Guardianship",
    "LoginSession",
    "MailStatus",
    "OutboxMessage",
    "Pupil",
    "Token",
]
