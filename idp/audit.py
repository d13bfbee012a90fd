"""One door for security events (docs/security.md, « Audit and logs »): a row in the caller's
transaction and a log line."""

import logging

from flask import has_request_context, request
from sqlalchemy import insert

from .clock import now
from .extensions import db
from .logs import request_id
from .models import AuditEvent

log = logging.getLogger("idp.audit")

# Field names that would betray a secret; `audit` refuses them outright.
_FORBIDDEN = {"password", "secret", "client_secret", "token", "code", "refresh_token", "access_token"}


def audit(event, account=None, client=None, ip=None, **details):
    """Record `event`; `ip` defaults to the request's address (work deferred after the
    request passes the address it was asked from)."""
    forbidden = _FORBIDDEN.intersection(details)
    if forbidden:
        raise ValueError(f"audit fields may not carry secrets: {sorted(forbidden)}")
    if ip is None and has_request_context():
        ip = request.remote_addr
    row = AuditEvent(
        event=event,
        account_id=account.id if account is not None else None,
        client_id=client.client_id if client is not None else None,
        ip=ip,
        request_id=request_id(),
        details=details,
    )
    db.session.add(row)
    log.info(
        "%s account=%s client=%s ip=%s request=%s %s",
        event,
        account.identifier if account is not None else "-",
        row.client_id or "-",
        ip or "-",
        row.request_id or "-",
        " ".join(f"{key}={value}" for key, value in sorted(details.items())),
    )
    return row


def audit_many(event, account_ids, **details):
    """One `event` row per account in a single statement (issuing thousands of accounts),
    and one log line for them all."""
    forbidden = _FORBIDDEN.intersection(details)
    if forbidden:
        raise ValueError(f"audit fields may not carry secrets: {sorted(forbidden)}")
    if not account_ids:
        return
    ip = request.remote_addr if has_request_context() else None
    moment, named = now(), request_id()
    rows = [
        {"at": moment, "event": event, "account_id": account_id, "ip": ip, "request_id": named, "details": details}
        for account_id in account_ids
    ]
    db.session.execute(insert(AuditEvent.__table__), rows)
    log.info(
        "%s accounts=%d ip=%s request=%s %s",
        event,
        len(rows),
        ip or "-",
        named or "-",
        " ".join(f"{key}={value}" for key, value in sorted(details.items())),
    )
