"""The tables, split by domain. Importing this package registers every model."""

from .audit import AuditEvent
from .keys import SigningKey
from .oauth import AuthorizationCode, Client, Consent, Token
from .outbox import MailStatus, OutboxMessage
from .people import (
    Account,
    AccountKind,
    AccountLink,
    AccountState,
    Establishment,
    Guardianship,
    LegalGuardian,
    LinkPurpose,
    Pupil,
)
from .sessions import LoginSession
from .staff import PupilImport, StaffMember, StaffRecoveryCode, StaffRole, StaffSession, staff_establishment

__all__ = [
    "Account",
    "AccountKind",
    "AccountLink",
    "AccountState",
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "Consent",
    "Establishment",
    "Guardianship",
    "LegalGuardian",
    "LinkPurpose",
    "LoginSession",
    "MailStatus",
    "OutboxMessage",
    "Pupil",
    "PupilImport",
    "SigningKey",
    "StaffMember",
    "StaffRecoveryCode",
    "StaffRole",
    "StaffSession",
    "Token",
    "staff_establishment",
]
