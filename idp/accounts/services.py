"""What an account opened and allowed, as « gérer son compte » lists and ends it
(docs/parents-journey.md, « Managing the account »): its login sessions, and the relying parties
it uses (a consent, refresh tokens for offline access, or both; for a SAML service provider,
a consent).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, select, update

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import Client, Consent, SamlConsent, SamlServiceProvider, Token
from .lifecycle import revoke_everything
from .logouts import Ending, notify_relying_parties


def log_out_everywhere(account):
    """« Se déconnecter partout »: every session of the account ends, this one included, and
    every token it holds (offline access too) is revoked."""
    counts = revoke_everything(account.id, Ending.EVERYWHERE)
    audit("logged_out_everywhere", account=account, **counts)
    return counts


def live_refresh_token(moment):
    """The SQL condition on Token of a refresh token that can still be used."""
    return and_(
        Token.refresh_token_hash.is_not(None),
        Token.revoked_at.is_(None),
        Token.refresh_used_at.is_(None),
        Token.refresh_expires_at > moment,
    )


@dataclass(frozen=True)
class Service:
    """A relying party the account uses (an OpenID Connect client or a SAML service
    provider): what it allowed (`consent`), and since when it has offline access (its oldest
    live refresh token; None without one, always for SAML)."""

    client: Client | SamlServiceProvider
    consent: Consent | SamlConsent | None
    offline_since: datetime | None

    @property
    def saml(self):
        return isinstance(self.client, SamlServiceProvider)


def services_used(account):
    """The relying parties the account gave a consent to or that hold a live refresh token
    of it, and the SAML service providers it gave a consent to, by name."""
    consents = {consent.client_pk: consent for consent in db.session.scalars(select(Consent).where(Consent.account_id == account.id))}
    offline = dict(
        db.session.execute(
            select(Token.client_pk, func.min(Token.issued_at))
            .where(Token.account_id == account.id, live_refresh_token(now()))
            .group_by(Token.client_pk)
        ).all()
    )
    ids = set(consents) | set(offline)
    clients = db.session.scalars(select(Client).where(Client.id.in_(ids))).all() if ids else []
    services = [Service(client, consents.get(client.id), offline.get(client.id)) for client in clients]
    saml = db.session.execute(
        select(SamlServiceProvider, SamlConsent)
        .join(SamlConsent, SamlConsent.sp_pk == SamlServiceProvider.id)
        .where(SamlConsent.account_id == account.id)
    ).all()
    services += [Service(sp, consent, None) for sp, consent in saml]
    return sorted(services, key=lambda service: service.client.name.lower())


def revoke_service(account, client_id):
    """Withdraw a relying party's access: its consent is forgotten and every token it holds
    for the account revoked. Returns the client, or None when it had neither a consent nor
    a live refresh token of the account (nothing to withdraw)."""
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is None:
        return None
    moment = now()
    mine = and_(Token.account_id == account.id, Token.client_pk == client.id)
    consented = db.session.execute(
        delete(Consent).where(Consent.account_id == account.id, Consent.client_pk == client.id),
        execution_options={"synchronize_session": "fetch"},
    ).rowcount
    offline = db.session.scalar(select(func.count()).select_from(Token).where(mine, live_refresh_token(moment)))
    if not consented and not offline:
        return None
    revoked = db.session.execute(
        update(Token).where(mine, Token.revoked_at.is_(None)).values(revoked_at=moment), execution_options={"synchronize_session": False}
    ).rowcount
    notify_relying_parties(Ending.SERVICE_WITHDRAWN, account.id, client=client)
    audit("service_revoked", account=account, client=client, consent=bool(consented), tokens_revoked=revoked)
    return client


def revoke_saml_service(account, sp_pk):
    """Withdraw a SAML service provider's consent: it will be asked again, and its sessions
    of the account are told they ended (its SOAP single logout, when it has one). Returns the
    service provider, or None when the account had given it no consent."""
    sp = db.session.get(SamlServiceProvider, sp_pk)
    if sp is None:
        return None
    consented = db.session.execute(
        delete(SamlConsent).where(SamlConsent.account_id == account.id, SamlConsent.sp_pk == sp.id),
        execution_options={"synchronize_session": "fetch"},
    ).rowcount
    if not consented:
        return None
    notify_relying_parties(Ending.SERVICE_WITHDRAWN, account.id, client=sp)
    audit("service_revoked", account=account, sp=sp.entity_id, protocol="saml", consent=True)
    return sp
