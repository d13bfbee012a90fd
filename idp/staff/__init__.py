"""The back office under /gestion: establishments' staff and académie administrators."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/gestion")

from . import academie, auth, establishments, relying_parties, saml_sps  # noqa: E402, F401  (the pages register on bp)
from .sessions import write_staff_cookie  # noqa: E402

bp.after_request(write_staff_cookie)
