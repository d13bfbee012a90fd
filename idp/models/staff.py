"""School and académie staff: their own accounts, second factor and login sessions.

Staff are not families: they log in with an email, a password and a TOTP code at their own
entry, and a staff session never gives a code to a relying party (docs/architecture.md,
« The back office »).
"""

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import now
from ..extensions import db
from .people import Establishment, _enum


class StaffRole(enum.StrEnum):
    # Bound to one or more establishments.
    ETABLISSEMENT = "etablissement"
    # Sees every establishment; manages relying parties and staff.
    ACADEMIE = "academie"


staff_establishment = Table(
    "staff_establishment",
    db.metadata,
    Column("staff_id", ForeignKey("staff_member.id", ondelete="CASCADE"), primary_key=True),
    Column("establishment_id", ForeignKey("establishment.id", ondelete="CASCADE"), primary_key=True),
)


class StaffMember(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # The TOTP secret, encrypted under a key derived from HASH_KEY (it must be read back
    # to check codes, so it cannot be hashed). None until enrolment is complete.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(200))
    # Last TOTP time step accepted: a code is accepted once.
    totp_last_step: Mapped[int | None]
    # Keyed hash of the enrolment link's token; None once enrolled.
    enrolment_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolment_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    enrolled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]

    establishments: Mapped[list[Establishment]] = relationship(secondary=staff_establishment, order_by=Establishment.uai)
    recovery_codes: Mapped[list["StaffRecoveryCode"]] = relationship(back_populates="staff", cascade="all, delete-orphan")

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"

    def __repr__(self):
        return f"<StaffMember {self.email} {self.role}>"


class StaffRecoveryCode(db.Model):
    """One of the ten single-use codes shown once at enrolment, as a keyed hash."""

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]

    staff: Mapped[StaffMember] = relationship(back_populates="recovery_codes")


class StaffSession(db.Model):
    """A staff login session (password and second factor done); the cookie holds a random
    value, the table its hash, as for families, in a table of its own."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ip: Mapped[str] = mapped_column(String(45), default="")

    staff: Mapped[StaffMember] = relationship()


class PupilImport(db.Model):
    """One import of a school file: who, when, what, and its counts (the staff page's history)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=now)
    source: Mapped[str] = mapped_column(String(20))
    filenames: Mapped[str] = mapped_column(String(500))
    complete: Mapped[bool] = mapped_column(default=False)
    counts: Mapped[dict] = mapped_column(db.JSON, default=dict)
