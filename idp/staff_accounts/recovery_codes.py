"""Ten single-use recovery codes, shown once when the second factor is enrolled.

A code stands in for a TOTP code when the phone is lost. Codes are generated here with 74 bits
of entropy from an alphabet without look-alike characters, printed in groups of five, and stored
as keyed hashes (docs/security.md, « Generated secrets »); a code is spent by one conditional
UPDATE.
"""

import re
import secrets

from sqlalchemy import update

from ..clock import now
from ..extensions import db
from ..models import StaffRecoveryCode
from ..security import keyed_hash

COUNT = 10
# No 0/o, 1/l/i: a code is copied by hand from paper.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
GROUPS, GROUP_LENGTH = 3, 5
_SEPARATORS = re.compile(r"[\s-]+")


def _normalized(typed):
    return _SEPARATORS.sub("", typed or "").lower()


def new_recovery_codes(staff):
    """Replace `staff`'s recovery codes by ten new ones, returned to be shown once."""
    codes = ["-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)) for _ in range(COUNT)]
    staff.recovery_codes[:] = [StaffRecoveryCode(code_hash=keyed_hash(_normalized(code))) for code in codes]
    return codes


def looks_like_recovery_code(typed):
    value = _normalized(typed)
    return len(value) == GROUPS * GROUP_LENGTH and all(char in ALPHABET for char in value)


def use_recovery_code(staff, typed):
    """True when `typed` is one of `staff`'s unused codes, which is then spent."""
    if not looks_like_recovery_code(typed):
        return False
    spent = db.session.execute(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_id == staff.id,
            StaffRecoveryCode.code_hash == keyed_hash(_normalized(typed)),
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1
