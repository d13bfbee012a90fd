"""The home page, login and logout pages (« mot de passe oublié » and « identifiant oublié »: forgotten.py)."""

from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from ..accounts.logouts import front_channel_uris
from ..extensions import db
from ..overload import refusal
from ..relying_parties.lookup import query_client
from ..security import allow_form_action, allow_frame, safe_next
from .forms import LoginForm
from .login import is_answer, log_in, login_page
from .sessions import current_login_session, log_out

bp = Blueprint("auth", __name__)


def _login_page(form, next_url, status=200):
    client = None
    if next_url:
        # The form's redirect chain ends at the relying party's registered URI, which the
        # page's CSP form-action must name; the page names the service the person goes to.
        query = parse_qs(urlsplit(next_url).query)
        candidate = query_client(query.get("client_id", [""])[0])
        uri = query.get("redirect_uri", [None])[0]
        if candidate is not None and (uri is None or candidate.check_redirect_uri(uri)):
            client = candidate
            if uri:
                allow_form_action(uri)
    return login_page(form, client=client, next_url=next_url, status=status)


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """The login page of people who come to the provider directly, and of the recovery
    pages' « Retour à la connexion » (relying parties' logins show the form at /authorize)."""
    if request.method == "GET" and (refused := refusal()) is not None:
        return refused
    next_url = safe_next(request.values.get("next"))
    form = LoginForm(next=next_url)
    if request.method == "GET" and request.args.get("login_hint"):
        form.identifier.data = request.args["login_hint"][:64]
    if not form.validate_on_submit():
        return _login_page(form, next_url)
    outcome = log_in(form, lambda form: _login_page(form, next_url), next_url, sent_on=True)
    db.session.commit()
    if is_answer(outcome):
        return outcome
    return redirect(next_url or url_for("account.home"), code=303)


@bp.post("/deconnexion")
def logout():
    ended = log_out()
    db.session.commit()
    return logged_out_page(front_channel_uris(ended))


def logged_out_page(frontchannel_uris, continue_url=None):
    """The page after a logout: it loads the relying parties' front-channel logout URIs
    (`logouts.front_channel_uris`), and its Content-Security-Policy lets it frame exactly
    those; `continue_url`: where the relying party that asked waits."""
    for uri in frontchannel_uris:
        allow_frame(uri)
    return render_template("auth/logged_out.html", frontchannel_uris=frontchannel_uris, continue_url=continue_url)


@bp.get("/")
def index():
    """The provider's home page (docs/parents-journey.md, « First connection » and
    « Managing the account »): the login form, or, once logged in, the way to
    « gérer son compte » and to the ENT."""
    login_session = current_login_session()
    if login_session is None and (refused := refusal()) is not None:
        return refused
    page = render_template(
        "auth/home.html",
        account=login_session.account if login_session is not None else None,
        form=LoginForm() if login_session is None else None,
    )
    db.session.commit()  # the last activity current_login_session noted
    return page


@bp.get("/langue/<language>")
def language(language):
    """The language links of every page: remember the choice, come back to the page."""
    if language in current_app.config["LANGUAGES"]:
        session["locale"] = language
    return redirect(safe_next(request.args.get("next")) or url_for("auth.index"))
