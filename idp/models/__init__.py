"""The tables, split by domain. Importing this package registers every model."""

from .audit import AuditEvent
from .keys import SigningKey
from .oauth import AuthorizationCode, Client, Consent, Token
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
    "Pupil",
    "SigningKey",
    "Token",
]
