"""Relying parties and what the protocol hands them: codes, tokens, consents.

Codes and tokens are stored as SHA-256 hashes only; the clear values exist in the
responses and nowhere else.
"""

from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin
from sqlalchemy import JSON, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import now, timestamp
from ..extensions import db
from ..security import keyed_hash_matches
from .people import Account
from .sessions import LoginSession

# What a client's category, authentication method and scopes may be: the registration
# rules, the `idp client` options, the grants and the discovery document read them here
# (the claims of each scope: idp.oidc.claims).
CATEGORIES = ("ent", "teleservice")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
SCOPES = ("openid", "profile", "email", "scolarite", "offline_access")
# The `sub` a client knows accounts by (idp.relying_parties.subjects).
SUBJECT_TYPES = ("public", "pairwise")
# The claims each scope may release (idp.oidc.claims makes them); a registration may narrow
# them (`Client.claims`). `sub` is always released.
CLAIMS_BY_SCOPE = {
    "profile": ("name", "given_name", "family_name", "preferred_username"),
    "email": ("email", "email_verified"),
    "scolarite": ("FrEduCtPersonAffiliation", "FrEduCtEleveUAI", "FrEduCtEleveINE", "FrEduVecteur", "children"),
}


class ClientRules(ClientMixin):
    """What Authlib asks of a relying party, answered from its registration's columns;
    shared by the mapped `Client` and by the fast path's client rows (idp.oidc.fast_path)."""

    @property
    def is_public(self):
        return self.auth_method == "none"

    @property
    def scope_list(self):
        return self.scopes.split()

    @property
    def client_metadata(self):
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # Only an unambiguous registration may stand in for a missing redirect_uri.
        if len(self.redirect_uris) == 1:
            return self.redirect_uris[0]
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        allowed = set(self.scope_list)
        kept = []
        for item in scope.split():
            if item in allowed and item not in kept:
                kept.append(item)
        return " ".join(kept)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    @property
    def is_enabled(self):
        """False once the académie disabled it: it is then no client at any door."""
        return self.disabled_at is None

    def check_client_secret(self, client_secret):
        """The current secret, or the former one until its overlap ends (a rotation)."""
        if self.secret_hash is not None and keyed_hash_matches(client_secret, self.secret_hash):
            return True
        return (
            self.previous_secret_hash is not None
            and self.previous_secret_expires_at is not None
            and now() < self.previous_secret_expires_at
            and keyed_hash_matches(client_secret, self.previous_secret_hash)
        )

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


class Client(db.Model, ClientRules):
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[str] = mapped_column(String(200))
    trusted: Mapped[bool] = mapped_column(default=False)
    # OpenID Connect Back-Channel and Front-Channel Logout 1.0 (idp.logout).
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    # "public": the account's own `sub`; "pairwise": one per sector (OpenID Connect Core §8.1).
    subject_type: Mapped[str] = mapped_column(String(10), default="public", server_default="public")
    # The claims it may receive within its scopes; None: every claim of its scopes.
    claims: Mapped[list | None] = mapped_column(JSON)
    # Shown on the consent page.
    logo_uri: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(200))
    # A disabled relying party keeps its registration and may not be used.
    disabled_at: Mapped[datetime | None]
    # After a rotation with overlap, the former secret keeps working until it expires.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)

    def __repr__(self):
        return f"<Client {self.client_id} {self.name!r}>"


class AuthorizationCodeRules(AuthorizationCodeMixin):
    """What Authlib asks of an authorization code, answered from its columns; shared by the
    mapped `AuthorizationCode` and by the fast path's code row (idp.oidc.fast_path)."""

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return timestamp(self.auth_time)


class AuthorizationCode(db.Model, AuthorizationCodeRules):
    # The nonce replay check looks codes up by (client, nonce); the index also serves the
    # client's cascade.
    __table_args__ = (Index("ix_authorization_code_client_pk_nonce", "client_pk", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[int | None] = mapped_column(ForeignKey("login_session.id", ondelete="SET NULL"), index=True)
    # None when the request relied on the single registered URI (then none is required at /token).
    redirect_uri: Mapped[str | None] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str | None] = mapped_column(String(255))
    auth_time: Mapped[datetime]
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()
    account: Mapped[Account] = relationship()
    login_session: Mapped[LoginSession | None] = relationship()


class Token(db.Model, TokenMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[int | None] = mapped_column(ForeignKey("login_session.id", ondelete="SET NULL"), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(ForeignKey("authorization_code.id", ondelete="SET NULL"), index=True)
    # Every token descending from one authorization code through refreshes shares a family.
    family: Mapped[str] = mapped_column(String(32), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(200))
    auth_time: Mapped[datetime | None]
    issued_at: Mapped[datetime] = mapped_column(default=now)
    # Both indexed for the purge (idp.oidc.purge).
    access_expires_at: Mapped[datetime] = mapped_column(index=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    refresh_used_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship(lazy="joined")
    account: Mapped[Account] = relationship(lazy="joined")

    # Which of the two values found this row ("access_token" or "refresh_token"); set by
    # the lookups in idp.oidc.tokens, so that expiry and revocation speak of that value.
    presented_as = "access_token"

    def check_client(self, client):
        return self.client_pk == client.id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def get_expires_at(self):
        return timestamp(self.access_expires_at)

    def is_expired(self):
        if self.presented_as == "refresh_token":
            return self.refresh_expires_at is None or self.refresh_expires_at <= now()
        return self.access_expires_at <= now()

    def is_revoked(self):
        if self.presented_as == "refresh_token":
            return self.revoked_at is not None or self.refresh_used_at is not None
        return self.revoked_at is not None

    def get_user(self):
        return self.account

    def get_client(self):
        return self.client


class Consent(db.Model):
    """The scopes a person allowed a relying party that is not marked trusted."""

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), primary_key=True, index=True)
    scopes: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(default=now)

    client: Mapped[Client] = relationship()

    def covers(self, scope):
        return set(scope.split()) <= set(self.scopes.split())
