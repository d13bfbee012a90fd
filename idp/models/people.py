"""Establishments, pupils, accounts and the guardianship links between them (docs/life-cycle.md,
« Who gets an account »)."""

import enum
import secrets
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from ..clock import now
from ..extensions import db


class AccountKind(enum.StrEnum):
    PARENT = "parent"
    ELEVE = "eleve"


class AccountState(enum.StrEnum):
    ISSUED = "issued"
    PENDING_EMAIL = "pending_email"
    ACTIVE = "active"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"
    # Too many wrong birth dates at first connection: only a regeneration reopens it.
    BLOCKED = "blocked"


def _enum(cls):
    # Stored as plain strings (no database ENUM type), so that adding a state is not a
    # migration on PostgreSQL; the CHECK constraint still refuses unknown values.
    return Enum(
        cls,
        native_enum=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
        name=cls.__name__.lower(),
        create_constraint=True,
        validate_strings=True,
    )


class Establishment(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    uai: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    academie: Mapped[str] = mapped_column(String(100), default="Normandie")
    # "1d" (premier degré: écoles) or "2d" (second degré: collèges, lycées).
    degree: Mapped[str] = mapped_column(String(2), default="2d")
    # How a family reaches the school, printed on the letters: the postal address (lines),
    # the phone, or a free contact line (« Secrétariat : 02 31 00 00 00, le matin »).
    address: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(20))
    contact: Mapped[str | None] = mapped_column(String(200))

    pupils: Mapped[list["Pupil"]] = relationship(back_populates="establishment")

    def __repr__(self):
        return f"<Establishment {self.uai}>"


class Pupil(db.Model):
    __table_args__ = (UniqueConstraint("establishment_id", "school_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    # The national pupil identifier. Not unique: a pupil who changes establishment appears in
    # the new one's file while the old one may still list them until its next import.
    ine: Mapped[str | None] = mapped_column(String(11), index=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="RESTRICT"), index=True)
    # The establishment's own key of the pupil: `id_eleve` of a CSV, `ELEVE_ID` of SIECLE.
    # None for pupils created by hand (`idp demo-account create`).
    school_key: Mapped[str | None] = mapped_column(String(32))
    class_name: Mapped[str | None] = mapped_column(String(40))
    # Set when the pupil left the establishment (SIECLE's DATE_SORTIE, or absence from a
    # complete import); accounts attached only to pupils who left stop working.
    left_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)

    establishment: Mapped[Establishment] = relationship(back_populates="pupils")
    guardianships: Mapped[list["Guardianship"]] = relationship(back_populates="pupil", cascade="all, delete-orphan")
    legal_guardians: Mapped[list["LegalGuardian"]] = relationship(
        back_populates="pupil", cascade="all, delete-orphan", order_by="LegalGuardian.rank"
    )

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"


class Account(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # The OIDC subject: random, never shown, kept when the account is regenerated.
    sub: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(16))
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind))
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    state: Mapped[AccountState] = mapped_column(_enum(AccountState), default=AccountState.ISSUED)
    teleservices_refused: Mapped[bool] = mapped_column(default=False)
    # The provisional secret printed on the letter, as a keyed hash (docs/security.md,
    # « Generated secrets »); None once the person has chosen a password, or for accounts
    # created active.
    provisional_secret_hash: Mapped[str | None] = mapped_column(String(64))
    # Wrong birth dates given at first connection since the last issue.
    birth_date_failures: Mapped[int] = mapped_column(default=0)
    # Why a blocked account is blocked (shown to staff), e.g. "birth_date".
    blocked_reason: Mapped[str | None] = mapped_column(String(40))
    # Language of the emails sent to the account ("fr" or "en").
    language: Mapped[str] = mapped_column(String(5), default="fr")
    # For a pupil's own account: the pupil it belongs to.
    pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupil.id", ondelete="SET NULL"), index=True, unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=now, index=True)
    first_connection_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # When the inactivity warning email was queued (reset by the next login).
    inactivity_warned_at: Mapped[datetime | None]

    pupil: Mapped[Pupil | None] = relationship()
    guardianships: Mapped[list["Guardianship"]] = relationship(back_populates="account", cascade="all, delete-orphan")
    # True when the account stands for pupils who have all left: filled in by the queries that
    # load an account to log it in (idp.accounts.access.find_account), None otherwise.
    pupils_left: Mapped[bool | None] = query_expression()

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"

    @property
    def children(self):
        return [link.pupil for link in self.guardianships]

    def __repr__(self):
        return f"<Account {self.identifier} {self.state}>"


class Guardianship(db.Model):
    """A parent account's link to a pupil (many-to-many, see docs/life-cycle.md,
    « Who gets an account »)."""

    __table_args__ = (UniqueConstraint("account_id", "pupil_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), index=True)

    account: Mapped[Account] = relationship(back_populates="guardianships")
    pupil: Mapped[Pupil] = relationship(back_populates="guardianships")


class LegalGuardian(db.Model):
    """A legal guardian of a pupil, as the establishment's file lists them.

    One row per (guardian, pupil): the guide gives a parent one account per child, so the
    row also names the parent account issued for it. The school file's email only
    pre-fills the first-connection form; it is not the account's address.
    """

    __table_args__ = (UniqueConstraint("pupil_id", "rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"))
    # 1 or 2: the order of the legal guardians in the file.
    rank: Mapped[int]
    # SIECLE's PERSONNE_ID when the file has one.
    school_key: Mapped[str | None] = mapped_column(String(32))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    school_email: Mapped[str | None] = mapped_column(String(254))
    # SIECLE's LC_CIVILITE, « M. » or « MME » (None in a CSV): « Responsable légale » for MME.
    civility: Mapped[str | None] = mapped_column(String(10))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), unique=True)

    pupil: Mapped[Pupil] = relationship(back_populates="legal_guardians")
    account: Mapped[Account | None] = relationship()

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"


class LinkPurpose(enum.StrEnum):
    # Confirms the address given at first connection and makes the account active.
    ACTIVATION = "activation"
    # Confirms a new address before it replaces the account's.
    EMAIL_CHANGE = "email_change"
    # "mot de passe oublié": the link and its temporary password.
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)


class AccountLink(db.Model):
    """A single-use link sent by email, stored as a keyed hash (docs/security.md,
    « Generated secrets »).

    One live link per (account, purpose): asking again replaces the older one; except for
    password resets, whose live links stay valid within the emails' budget (links.py).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[LinkPurpose] = mapped_column(_enum(LinkPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The address the link was sent to (and, for activation and email change, confirms).
    email: Mapped[str] = mapped_column(String(254))
    # Keyed hash of the temporary password that goes with a password-reset link.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]

    account: Mapped[Account] = relationship()
