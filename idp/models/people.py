"""Establishments, pupils, accounts and the guardianship links between them (design §2)."""

import enum
import secrets
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

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

    pupils: Mapped[list["Pupil"]] = relationship(back_populates="establishment")

    def __repr__(self):
        return f"<Establishment {self.uai}>"


class Pupil(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    ine: Mapped[str | None] = mapped_column(String(11), unique=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="RESTRICT"), index=True)

    establishment: Mapped[Establishment] = relationship(back_populates="pupils")
    guardianships: Mapped[list["Guardianship"]] = relationship(back_populates="pupil", cascade="all, delete-orphan")

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
    # For a pupil's own account: the pupil it belongs to.
    pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupil.id", ondelete="SET NULL"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=now)
    first_connection_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]

    pupil: Mapped[Pupil | None] = relationship()
    guardianships: Mapped[list["Guardianship"]] = relationship(back_populates="account", cascade="all, delete-orphan")

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"

    @property
    def children(self):
        return [link.pupil for link in self.guardianships]

    def __repr__(self):
        return f"<Account {self.identifier} {self.state}>"


class Guardianship(db.Model):
    """A parent account's link to a pupil (many-to-many, see design §2)."""

    __table_args__ = (UniqueConstraint("account_id", "pupil_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id", ondelete="CASCADE"), index=True)

    account: Mapped[Account] = relationship(back_populates="guardianships")
    pupil: Mapped[Pupil] = relationship(back_populates="guardianships")
