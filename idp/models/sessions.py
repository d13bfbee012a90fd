"""Server-side login sessions: the cookie holds a random value, the table its hash."""

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .people import Account


class LoginSession(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The session's identifier for the relying parties (`sid` of ID and logout tokens): random,
    # unrelated to the cookie's value.
    sid: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    # `created_at` is the moment the person typed their password: the ID token's auth_time.
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")

    account: Mapped[Account] = relationship()


class SessionClient(db.Model):
    """A relying party a login session has logged into: whom its end must reach (idp.logout).
    Written with the authorization code."""

    login_session_id: Mapped[int] = mapped_column(ForeignKey("login_session.id", ondelete="CASCADE"), primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), primary_key=True, index=True)
    first_at: Mapped[datetime]
