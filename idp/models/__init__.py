"""The tables, split by domain. Importing this package registers every model."""

from .audit import AuditEvent
from .keys import SigningKey
from .logout import LogoutNotice, NoticeStatus
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
from .saml import SamlAnsweredRequest, SamlConsent, SamlServiceProvider, SessionSamlSp
from .sessions import LoginSession, SessionClient
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
    "LogoutNotice",
    "MailStatus",
    "NoticeStatus",
    "OutboxMessage",
    "Pupil",
    "PupilImport",
    "SamlAnsweredRequest",
    "SamlConsent",
    "SamlServiceProvider",
    "SessionClient",
    "SessionSamlSp",
    "SigningKey",
    "StaffMember",
    "StaffRecoveryCode",
    "StaffRole",
    "StaffSession",
    "Token",
    "staff_establishment",
]
