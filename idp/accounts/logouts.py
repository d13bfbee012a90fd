"""Who hears that a session ended (docs/architecture.md, « Logout »).

A login session remembers the relying parties it logged into (`SessionClient`, written
with each authorization code). When sessions end, or an account may no longer use a
relying party, `notify_relying_parties` is the one rule deciding which relying parties are
told, and for which sessions; every door calls it:

| ending                      | sessions                           | relying parties            |
|-----------------------------|------------------------------------|----------------------------|
| LOGOUT (« Se déconnecter », | this one                           | all but the one that asked |
|   RP-initiated logout)      |                                    |                            |
| SESSION_ENDED (« gérer son  | this one                           | all                        |
|   compte »)                 |                                    |                            |
| PASSWORD_CHANGED,           | the account's others               | all                        |
|   EMAIL_CHANGED             |                                    |                            |
| EVERYWHERE, PASSWORD_RESET, | every one of the account           | all                        |
|   ACCOUNT_ENDED,            |                                    |                            |
|   PUPILS_LEFT               |                                    |                            |
| SERVICE_WITHDRAWN           | every one of the account           | that one                   |
| TELESERVICES_REFUSED        | every one of the account           | the téléservices           |

"Every one" means every session not ended yet (one past its lifetimes may still be open at
the relying party). A relying party with a back-channel logout URI gets a notice per
session, written here in the caller's transaction and delivered after its commit
(idp.logout); a front-channel one is loaded by the logged-out page of the browser whose
session ended (`front_channel_uris`).

SAML service providers are relying parties of the same table (docs/saml.md): a session
remembers them (`SessionSamlSp`, written with each assertion), the same rule picks them
(`_pairs`, for either kind), one with a SOAP SingleLogoutService gets a notice (a
LogoutRequest sent by idp.logout), one with an HTTP-Redirect one a frame of the logged-out
page (a LogoutRequest sent through the browser, idp.saml). `client`, the relying party
that asked or is withdrawn, may be either kind.
"""

import enum
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app, url_for
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Select, false, func, insert, literal, null, select
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now
from ..extensions import db
from ..leased_queue import AfterCommit
from ..models import Account, Client, LoginSession, LogoutNotice, NoticeStatus, SamlServiceProvider, SessionClient, SessionSamlSp
from ..security import allow_frame

# What a frame of the logged-out page hands to idp.saml to send one LogoutRequest.
FRAME_SALT = "saml-logout-frame"
FRAME_MAX_AGE = 600


@dataclass(frozen=True)
class _Kind:
    """One kind of relying party: its table, and the table of the sessions that logged into it."""

    party: type
    link: type
    link_party: object  # the link's column naming the party

    def owns(self, client):
        return isinstance(client, self.party)


OIDC = _Kind(Client, SessionClient, SessionClient.client_pk)
SAML = _Kind(SamlServiceProvider, SessionSamlSp, SessionSamlSp.sp_pk)


class Ending(enum.StrEnum):
    LOGOUT = "logout"
    SESSION_ENDED = "session_ended"
    EVERYWHERE = "logged_out_everywhere"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event's name)
    EMAIL_CHANGED = "email_changed"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (an event's name)
    ACCOUNT_ENDED = "account_ended"
    PUPILS_LEFT = "pupils_left"
    SERVICE_WITHDRAWN = "service_withdrawn"
    TELESERVICES_REFUSED = "teleservices_refused"


# The notices of a committed transaction are delivered at once by idp.logout, one job each
# in threads of their own (a relying party that does not answer holds up no other).
AFTER_COMMIT = AfterCommit("idp.logout.queued", "LOGOUT_SEND_AFTER_COMMIT", pool="idp.deferred.logout", one_by_one=True)

ONE_SESSION = (Ending.LOGOUT, Ending.SESSION_ENDED)
OTHER_SESSIONS = (Ending.PASSWORD_CHANGED, Ending.EMAIL_CHANGED)


def note_relying_party(login_session, client):
    """Remember that `login_session` logged into `client` (once per pair)."""
    if login_session.id is None:
        db.session.flush()  # a session opened by this very request
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(SessionClient)
        .values(login_session_id=login_session.id, client_pk=client.id, first_at=now())
        .on_conflict_do_nothing(index_elements=["login_session_id", "client_pk"])
    )


def note_service_provider(login_session, sp, name_id, name_id_format):
    """Remember that `login_session` logged into the SAML service provider `sp`, and the NameID
    it was given (the first one is kept, so a transient NameID names the session until it ends)."""
    if login_session.id is None:
        db.session.flush()
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(SessionSamlSp)
        .values(login_session_id=login_session.id, sp_pk=sp.id, name_id=name_id, name_id_format=name_id_format, first_at=now())
        .on_conflict_do_nothing(index_elements=["login_session_id", "sp_pk"])
    )


def name_id_in_session(login_session, sp):
    """(NameID, format) that `login_session` gave `sp`, or None."""
    if login_session is None or login_session.id is None:
        return None
    row = db.session.get(SessionSamlSp, (login_session.id, sp.id))
    return (row.name_id, row.name_id_format) if row is not None else None


def notify_relying_parties(ending, accounts=None, login_session=None, client=None):
    """Write the back-channel logout notices that `ending` owes (the table above), in the
    caller's transaction; they leave after its commit. Call it before the sessions are
    marked ended.

    `accounts`: an account's id or a SELECT of ids (every ending but the one-session ones);
    `login_session`: the session that ends (ONE_SESSION), or the one that stays
    (OTHER_SESSIONS); `client`: the relying party that asked (LOGOUT) or that is withdrawn
    (SERVICE_WITHDRAWN). Returns how many notices were written."""
    ending = Ending(ending)
    moment = now()
    columns = ["client_pk", "subject", "sid", "reason", "status", "attempts", "created_at", "next_attempt_at"]
    common = (literal(ending.value), literal(NoticeStatus.PENDING.value), literal(0), literal(moment), literal(moment))
    oidc = (
        _pairs(OIDC, ending, accounts, login_session, client)
        .where(Client.backchannel_logout_uri.is_not(None))
        .with_only_columns(SessionClient.client_pk, Account.sub, LoginSession.sid, *common)
    )
    saml = (
        _pairs(SAML, ending, accounts, login_session, client)
        .where(SamlServiceProvider.logout_soap.is_not(None))
        .with_only_columns(null(), SessionSamlSp.name_id, LoginSession.sid, *common, SessionSamlSp.sp_pk, SessionSamlSp.name_id_format)
    )
    ids = db.session.scalars(insert(LogoutNotice).from_select(columns, oidc).returning(LogoutNotice.id)).all()
    ids += db.session.scalars(
        insert(LogoutNotice).from_select([*columns, "saml_sp_pk", "name_id_format"], saml).returning(LogoutNotice.id)
    ).all()
    AFTER_COMMIT.add(ids)
    return len(ids)


def _pairs(kind, ending, accounts, login_session, client):
    """The (session, relying party of `kind`) pairs `ending` concerns, as a SELECT to complete."""
    party = kind.party
    query = (
        select(kind.link_party)
        .select_from(kind.link)
        .join(LoginSession, LoginSession.id == kind.link.login_session_id)
        .join(Account, Account.id == LoginSession.account_id)
        .join(party, party.id == kind.link_party)
    )
    if ending in ONE_SESSION:
        query = query.where(LoginSession.id == login_session.id)
    else:
        query = query.where(_of(LoginSession.account_id, accounts), LoginSession.ended_at.is_(None))
        if ending in OTHER_SESSIONS and login_session is not None:
            query = query.where(LoginSession.id != login_session.id)
    if ending == Ending.LOGOUT and client is not None:
        if kind.owns(client):
            query = query.where(party.id != client.id)
    elif ending == Ending.SERVICE_WITHDRAWN:
        query = query.where(party.id == client.id) if kind.owns(client) else query.where(false())
    elif ending == Ending.TELESERVICES_REFUSED:
        query = query.where(party.category == "teleservice")
    return query


def _of(column, accounts):
    return column.in_(accounts) if isinstance(accounts, Select) else column == accounts


def front_channel_uris(login_session, except_client=None):
    """The front-channel logout URIs of the relying parties `login_session` (if any) logged
    into (but `except_client`, which asked for the logout), with `iss` and `sid` where they
    registered that they need them: what the logged-out page loads."""
    if login_session is None:
        return []
    query = (
        select(Client.frontchannel_logout_uri, Client.frontchannel_logout_session_required)
        .join(SessionClient, SessionClient.client_pk == Client.id)
        .where(SessionClient.login_session_id == login_session.id, Client.frontchannel_logout_uri.is_not(None))
        .order_by(Client.name)
    )
    if except_client is not None and OIDC.owns(except_client):
        query = query.where(Client.id != except_client.id)
    uris = []
    for uri, session_required in db.session.execute(query):
        if session_required:
            parts = urlsplit(uri)
            extra = urlencode({"iss": current_app.config["ISSUER"], "sid": login_session.sid})
            uri = urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
        uris.append(uri)
    return uris + _saml_frames(login_session, except_client)


def _saml_frames(login_session, except_client):
    """The frames that carry a LogoutRequest to each SAML service provider of the session
    with an HTTP-Redirect or HTTP-POST SingleLogoutService and no SOAP one (those get a
    notice): a local address naming, signed, the service provider, the NameID and the
    session, which answers with the redirect to the service provider, or the page that posts
    the request to it (idp.saml.views.logout_frame). The page may frame the service
    provider's address that the frame leads to."""
    location = func.coalesce(SamlServiceProvider.logout_redirect, SamlServiceProvider.logout_post)
    query = (
        select(SamlServiceProvider.id, location, SessionSamlSp.name_id, SessionSamlSp.name_id_format)
        .join(SessionSamlSp, SessionSamlSp.sp_pk == SamlServiceProvider.id)
        .where(SessionSamlSp.login_session_id == login_session.id, location.is_not(None), SamlServiceProvider.logout_soap.is_(None))
        .order_by(SamlServiceProvider.name)
    )
    if except_client is not None and SAML.owns(except_client):
        query = query.where(SamlServiceProvider.id != except_client.id)
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FRAME_SALT)
    frames = []
    for sp_id, location, name_id, name_id_format in db.session.execute(query):
        allow_frame(location)
        token = serializer.dumps([sp_id, name_id, name_id_format, login_session.sid])
        frames.append(url_for("saml.logout_frame", t=token))
    return frames
