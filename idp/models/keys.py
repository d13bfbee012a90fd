"""ID token signing keys: which exist, which signs when, their public halves.

The private halves never enter the database: each is the file `<kid>.pem` in the keys
folder that every node mounts (see idp.oidc.keys).
"""

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class SigningKey(db.Model):
    # The key's RFC 7638 thumbprint.
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # 1 for the first key, then one more at each rotation. Unique: of two processes that
    # create a key at the same moment, only one succeeds.
    generation: Mapped[int] = mapped_column(unique=True)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    # Published from `created_at`, signs from `signs_from` until the next generation does.
    signs_from: Mapped[datetime]

    def __repr__(self):
        return f"<SigningKey {self.generation} {self.kid}>"
