"""The bodies of the emails waiting in the outbox are encrypted: seal those queued in clear

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-10 09:00:00.000000

The columns do not change: a sealed body is text (`sealed1:` and base64), written by
`idp/mail/sealing.py`, which reads a clear one too (a row queued by a node not yet upgraded).
This revision seals the pending rows' clear bodies with the application's key
(`IDP_MAIL_OUTBOX_KEY`, or `IDP_HASH_KEY`), so run `idp db upgrade` with the service's
settings. The format is written out here rather than imported, so that this revision keeps
doing what it did whatever the code becomes. Offline (`--sql`) nothing is sealed: the rows
stay readable, and leave in clear as before.
"""
import base64
import os

import sqlalchemy as sa
from alembic import context, op
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None

PREFIX = "sealed1:"
outbox = sa.table(
    "outbox_message",
    sa.column("id", sa.Integer),
    sa.column("message_id", sa.String),
    sa.column("status", sa.String),
    sa.column("body_text", sa.Text),
    sa.column("body_html", sa.Text),
)


def _keys():
    config = current_app.config
    current = config["MAIL_OUTBOX_KEY"] or config["HASH_KEY"]
    materials = [current, *(key for key in config["MAIL_OUTBOX_PREVIOUS_KEYS"] if key != current)]
    return [
        AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp outbox body").derive(material.encode()))
        for material in materials
    ]


def _bound_to(message_id, part):
    return f"outbox_message:{message_id}:{part}".encode()


def _seal(key, text, message_id, part):
    nonce = os.urandom(12)
    return PREFIX + base64.urlsafe_b64encode(nonce + key.encrypt(nonce, text.encode(), _bound_to(message_id, part))).decode("ascii")


def _unseal(keys, stored, message_id, part):
    raw = base64.urlsafe_b64decode(stored[len(PREFIX):].encode("ascii"))
    for key in keys:
        try:
            return key.decrypt(raw[:12], raw[12:], _bound_to(message_id, part)).decode()
        except (InvalidTag, ValueError):
            continue
    return ""  # no key opens it: the older code would send it blank, better not send it at all


def _rewrite(change):
    if context.is_offline_mode():
        return
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.message_id, outbox.c.body_text, outbox.c.body_html).where(outbox.c.status == "pending")
    ).all()
    for row in rows:
        values = change(row)
        if values:
            connection.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))


def upgrade():
    key = _keys()[0]

    def sealed(row):
        return {
            part: _seal(key, body, row.message_id, part.removeprefix("body_"))
            for part, body in (("body_text", row.body_text), ("body_html", row.body_html))
            if body and not body.startswith(PREFIX)
        }

    _rewrite(sealed)


def downgrade():
    keys = _keys()

    def opened(row):
        values = {
            part: _unseal(keys, body, row.message_id, part.removeprefix("body_"))
            for part, body in (("body_text", row.body_text), ("body_html", row.body_html))
            if body.startswith(PREFIX)
        }
        if "" in values.values():
            values["status"] = "failed"
        return values

    _rewrite(opened)
