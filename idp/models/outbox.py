"""The mail outbox: an email is a row written in the transaction that causes it, sent after the
commit and retried until the SMTP server takes it (docs/architecture.md, « Mail »)."""

import enum
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import now
from ..extensions import db
from .people import _enum


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up: permanently refused, or still refused after MAIL_RETRY_DAYS


class OutboxMessage(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # RFC 5322 Message-ID, the same at every attempt.
    message_id: Mapped[str] = mapped_column(String(255))
    recipient: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    # The rendered parts may carry the secret the email exists for (a link, a temporary
    # password): they are blanked as soon as the message is sent or given up.
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[MailStatus] = mapped_column(_enum(MailStatus), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(default=now)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    # The lease of the sender working on the message; once expired, another one may take it.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_done", "status", "last_attempt_at"),
    )

    def __repr__(self):
        return f"<OutboxMessage {self.id} {self.template} {self.status}>"
