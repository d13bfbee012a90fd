"""Who may open which back-office page: a staff session, the académie role, the staff
member's own establishments. What a staff member may not see answers 404, as if it did
not exist."""

import re
from functools import wraps

from flask import abort, g, redirect, request, url_for

from ..errors import InvalidInput
from ..extensions import db
from ..models import StaffRole
from ..schools.dashboard import find_account_of
from ..schools.establishments import find_establishment
from ..staff_accounts.members import may_see
from .sessions import current_staff_session, touch

_UNSAFE = re.compile(r"//|\\|[\x00-\x1f\x7f]")


def back_office_path(target):
    """`target` when it is a back-office page of this site, else None (never another site)."""
    if target and target.startswith("/gestion/") and not _UNSAFE.search(target):
        return target
    return None


def staff_required(view):
    """The page needs a staff session; `g.staff` is its staff member."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        staff_session = current_staff_session()
        if staff_session is None:
            return redirect(url_for("staff.login", next=back_office_path(request.full_path.rstrip("?"))))
        if touch(staff_session):
            db.session.commit()
        g.staff = staff_session.staff
        return view(*args, **kwargs)

    return wrapped


def academie_required(view):
    """The page is the académie's: other staff get a 404."""

    @staff_required
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.staff.role is not StaffRole.ACADEMIE:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def establishment_or_404(uai):
    """The establishment of `uai` when the staff member works for it; else 404."""
    try:
        establishment = find_establishment(uai)
    except InvalidInput:
        abort(404)
    if establishment is None or not may_see(g.staff, establishment):
        abort(404)
    return establishment


def account_or_404(establishment, account_id):
    """The account when it belongs to `establishment` (its pupil or a pupil's parent); else 404."""
    account = find_account_of(establishment, account_id)
    if account is None:
        abort(404)
    return account
