"""The audit log exported, for the CNIL, an établissement's question or an investigation
(`idp audit export`, docs/operations.md, « Audit log »).

The events of a period, oldest first, as JSON lines or CSV, written as they are read: the
rows come through a server-side cursor on PostgreSQL (`yield_per`), so that a year of
events costs the memory of one batch, whatever its size. Each event gives its moment (UTC),
its name, the account's id and identifier, the relying party, the address, the request's id
(as in the logs) and its details;
the audit never holds a secret (idp.audit refuses them), so neither does the export.
"""

import csv
import json

from sqlalchemy import or_, select

from .extensions import db
from .models import Account, AuditEvent

FORMATS = ("jsonl", "csv")
COLUMNS = ("id", "at", "event", "account_id", "identifier", "client_id", "ip", "request_id", "details")
BATCH = 1000


def events(since, until, account_identifier=None, batch=BATCH):
    """The events with `since <= at < until` (naive UTC datetimes), oldest first, as dicts
    of COLUMNS; only those of one account when `account_identifier` is given: its rows, and
    the rows that name it without an account (a throttled login records the identifier
    typed, which may exist or not)."""
    query = (
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.event,
            AuditEvent.account_id,
            Account.identifier,
            AuditEvent.client_id,
            AuditEvent.ip,
            AuditEvent.request_id,
            AuditEvent.details,
        )
        .outerjoin(Account, Account.id == AuditEvent.account_id)
        .where(AuditEvent.at >= since, AuditEvent.at < until)
        .order_by(AuditEvent.at, AuditEvent.id)
        .execution_options(yield_per=batch)
    )
    if account_identifier is not None:
        named = AuditEvent.details["identifier"].as_string() == account_identifier
        query = query.where(or_(Account.identifier == account_identifier, AuditEvent.account_id.is_(None) & named))
    for row in db.session.execute(query):
        yield {
            "id": row.id,
            "at": row.at.isoformat(timespec="seconds") + "Z",
            "event": row.event,
            "account_id": row.account_id,
            "identifier": row.identifier,
            "client_id": row.client_id,
            "ip": row.ip,
            "request_id": row.request_id,
            "details": row.details or {},
        }


def write(rows, output, fmt):
    """Write `rows` (from `events`) to the text stream `output` in `fmt`; the number written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    count = 0
    if fmt == "csv":
        writer = csv.writer(output, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            details = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
            writer.writerow(["" if row[column] is None else row[column] for column in COLUMNS[:-1]] + [details])
            count += 1
        return count
    for row in rows:
        output.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
        count += 1
    return count
