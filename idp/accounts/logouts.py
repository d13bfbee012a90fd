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
"""

import enum
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import Select, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from .. import logout
from ..clock import now
from ..extensions import db
from ..models import Account, Client, LoginSession, LogoutNotice, NoticeStatus, SessionClient


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


def notify_relying_parties(ending, accounts=None, login_session=None, client=None):
    """Write the back-channel logout notices that `ending` owes (the table above), in the
    caller's transaction; they leave after its commit. Call it before the sessions are
    marked ended.

    `accounts`: an account's id or a SELECT of ids (every ending but the one-session ones);
    `login_session`: the session that ends (ONE_SESSION), or the one that stays
    (OTHER_SESSIONS); `client`: the relying party that asked (LOGOUT) or that is withdrawn
    (SERVICE_WITHDRAWN). Returns how many notices were written."""
    ending = Ending(ending)
    pairs = _pairs(ending, accounts, login_session, client).where(Client.backchannel_logout_uri.is_not(None))
    moment = now()
    written = pairs.with_only_columns(
        SessionClient.client_pk,
        Account.sub,
        LoginSession.sid,
        literal(ending.value),
        literal(NoticeStatus.PENDING.value),
        literal(0),
        literal(moment),
        literal(moment),
    )
    columns = ["client_pk", "subject", "sid", "reason", "status", "attempts", "created_at", "next_attempt_at"]
    ids = db.session.scalars(insert(LogoutNotice).from_select(columns, written).returning(LogoutNotice.id)).all()
    logout.queue(ids)
    return len(ids)


def _pairs(ending, accounts, login_session, client):
    """The (session, relying party) pairs `ending` concerns, as a SELECT to complete."""
    query = (
        select(SessionClient.client_pk)
        .join(LoginSession, LoginSession.id == SessionClient.login_session_id)
        .join(Account, Account.id == LoginSession.account_id)
        .join(Client, Client.id == SessionClient.client_pk)
    )
    if ending in ONE_SESSION:
        query = query.where(LoginSession.id == login_session.id)
    else:
        query = query.where(_of(LoginSession.account_id, accounts), LoginSession.ended_at.is_(None))
        if ending in OTHER_SESSIONS and login_session is not None:
            query = query.where(LoginSession.id != login_session.id)
    if ending == Ending.LOGOUT and client is not None:
        query = query.where(Client.id != client.id)
    elif ending == Ending.SERVICE_WITHDRAWN:
        query = query.where(Client.id == client.id)
    elif ending == Ending.TELESERVICES_REFUSED:
        query = query.where(Client.category == "teleservice")
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
    if except_client is not None:
        query = query.where(Client.id != except_client.id)
    uris = []
    for uri, session_required in db.session.execute(query):
        if session_required:
            parts = urlsplit(uri)
            extra = urlencode({"iss": current_app.config["ISSUER"], "sid": login_session.sid})
            uri = urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
        uris.append(uri)
    return uris
