"""Logout notices: a back-channel logout token owed to a relying party, written in the
transaction that ends the session, sent after the commit and retried like the mail outbox
(idp.logout, docs/architecture.md, « Logout »)."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import now
from ..extensions import db
from .oauth import Client
from .people import _enum


class NoticeStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: still refused after LOGOUT_RETRY_HOURS


class LogoutNotice(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # The relying party told: an OpenID Connect client, or a SAML service provider (SOAP
    # back-channel single logout, idp.saml.logout); exactly one of the two.
    client_pk: Mapped[int | None] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    saml_sp_pk: Mapped[int | None] = mapped_column(ForeignKey("saml_service_provider.id", ondelete="CASCADE"), index=True)
    # The NameID's format, for a service provider (the subject is then its NameID).
    name_id_format: Mapped[str | None] = mapped_column(String(20))
    # Whom the notice names: for a client, the account's public `sub` (the logout token carries
    # the one this client knows, idp.relying_parties.subjects, made at each attempt); for a
    # service provider, its NameID. And the session's `sid` (None: every session of the account).
    subject: Mapped[str] = mapped_column(String(255))
    sid: Mapped[str | None] = mapped_column(String(32))
    # Why (the event that ended the session), for the operators and the audit.
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[NoticeStatus] = mapped_column(_enum(NoticeStatus), default=NoticeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(default=now)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]

    client: Mapped[Client | None] = relationship()

    __table_args__ = (
        Index("ix_logout_notice_due", "status", "next_attempt_at"),
        Index("ix_logout_notice_done", "status", "last_attempt_at"),
    )

    def __repr__(self):
        return f"<LogoutNotice {self.id} {self.status}>"
