"""SAML 2.0 service providers and what the SAML door keeps (idp.saml, docs/saml.md).

A service provider is registered from its metadata (idp.relying_parties.saml): the
metadata itself is stored, and read again by the SAML door at each request, so that what
the provider accepts (assertion consumer services, logout endpoints, certificates) is
always what the service provider published.
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import now
from ..extensions import db

NAMEID_FORMATS = ("persistent", "transient")


class SamlServiceProvider(db.Model):
    __tablename__ = "saml_service_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(500), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # "ent" or "teleservice", as a client's: the door rule (accounts.access) reads it.
    category: Mapped[str] = mapped_column(String(20))
    metadata_xml: Mapped[str] = mapped_column(Text)
    # Where the metadata came from (a file's name or a URL), for the operators.
    metadata_source: Mapped[str | None] = mapped_column(String(500))
    # The claims it receives, each under the attribute name it expects: {claim: name}.
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    # The NameID it gets unless its request asks for another format.
    nameid_format: Mapped[str] = mapped_column(String(20), default="persistent")
    # Trusted: no consent asked (as a client's `trusted`).
    trusted: Mapped[bool] = mapped_column(default=False, server_default=false())
    # May receive assertions it did not ask for (IdP-initiated SSO).
    idp_initiated: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Its SingleLogoutService, from the metadata (idp.accounts.logouts reads them): SOAP
    # (back channel: a notice), else HTTP-Redirect, else HTTP-POST (front channel: a frame
    # of the logged-out page).
    logout_soap: Mapped[str | None] = mapped_column(String(500))
    logout_redirect: Mapped[str | None] = mapped_column(String(500))
    logout_post: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=now)

    def __repr__(self):
        return f"<SamlServiceProvider {self.entity_id} {self.name!r}>"


class SessionSamlSp(db.Model):
    """A service provider a login session has logged into, and the NameID it was given:
    whom its end must reach, and how to name the person to it (LogoutRequest)."""

    __tablename__ = "session_saml_sp"

    login_session_id: Mapped[int] = mapped_column(ForeignKey("login_session.id", ondelete="CASCADE"), primary_key=True)
    sp_pk: Mapped[int] = mapped_column(ForeignKey("saml_service_provider.id", ondelete="CASCADE"), primary_key=True, index=True)
    name_id: Mapped[str] = mapped_column(String(255))
    name_id_format: Mapped[str] = mapped_column(String(20))
    first_at: Mapped[datetime]


class SamlConsent(db.Model):
    """An account agreed to send its attributes to a service provider that is not trusted."""

    __tablename__ = "saml_consent"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    sp_pk: Mapped[int] = mapped_column(ForeignKey("saml_service_provider.id", ondelete="CASCADE"), primary_key=True, index=True)
    granted_at: Mapped[datetime] = mapped_column(default=now)


class SamlAnsweredRequest(db.Model):
    """An AuthnRequest answered: its ID (hashed with its issuer) until the request would be
    too old anyway, so that the same request never gets two assertions (a replay)."""

    __tablename__ = "saml_answered_request"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
