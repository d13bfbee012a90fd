"""A demo ENT in the manner of "L'Educ de Normandie": a relying party of the provider.

It holds no password: "Élève ou parent de l'enseignement public" sends the person to the
provider (authorization code flow with state, nonce and PKCE S256), and the callback keeps
the claims and the ID token in this ENT's own session cookie. "Se déconnecter" goes through
the provider's RP-initiated logout. Authlib's Flask client does the protocol work.

Like an ENT core, it recognises the family by itself, not by the provider's `sub`: its own
directory (what the académie's directory feed gives an ENT: the pupils of each establishment
with their SIECLE identifier and their legal guardians) is searched with the `FrEduVecteur`
claim, one value per child, `profile|lastName|firstName|attachmentId|UAI`
(docs/relying-parties.md, « FrEduVecteur »). A person none of whose vectors matches is told so.

When the person logs out on the provider (« Se déconnecter partout », a password reset…), the
provider POSTs a logout token to /backchannel-logout (OpenID Connect Back-Channel Logout):
the ENT verifies it and notes the session it names in a small SQLite file shared by its
workers; a cookie whose session was noted there is forgotten at the next page.

    ENT_ISSUER         the provider's issuer (default http://127.0.0.1:5000)
    ENT_CLIENT_ID      the client_id registered with `idp client add`
    ENT_CLIENT_SECRET  its secret (client_secret_basic)
    ENT_BASE_URL       this ENT's public URL (default http://127.0.0.1:8765);
                       register BASE_URL/cb and BASE_URL/logout-cb with the provider
    ENT_SECRET_KEY     signs this ENT's session cookie (default: random at each start,
                       so set it when several workers serve the ENT)
    ENT_MAILBOX_DIR    the folder where examples/smtp_catcher.py keeps the emails it
                       received: the page /boite-mail lists them (default: no such page)
    ENT_DIRECTORY      this ENT's directory, a JSON file (examples/seed_demo.py writes the
                       demo's): {"pupils": [{"id", "uai", "attachment_id", "given_name",
                       "family_name", "class", "guardians": [{"id", "given_name",
                       "family_name"}]}]} (default: empty, nobody is recognised)
    ENT_LOGOUTS_DB     the SQLite file of the sessions the provider ended (default: in the
                       system's temporary folder, one per client_id)

Run it with `flask --app examples/ent/app.py run --port 8765`, or see examples/demo.sh.
"""

import email
import email.policy
import json
import os
import re
import secrets
import sqlite3
import tempfile
import time
import unicodedata
from pathlib import Path

from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, abort, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from markupsafe import Markup, escape
from requests import RequestException

SCOPE = "openid profile email scolarite"

# What the person reads when the provider sends back an error (RFC 6749 §4.1.2.1, OIDC §3.1.2.6).
ERROR_MESSAGES = {
    "access_denied": "Vous avez refusé de transmettre vos informations à l'ENT : vous n'êtes pas connecté.",
    "login_required": "Vous devez vous connecter aux Téléservices pour accéder à l'ENT.",
    "consent_required": "Vous devez autoriser l'ENT à recevoir vos informations pour vous connecter.",
    "mismatching_state": "Cette demande de connexion a expiré ou a été ouverte dans un autre onglet.",
    "invalid_issuer": "La réponse ne vient pas du service Téléservices attendu.",
    "temporarily_unavailable": "Le service Téléservices est momentanément indisponible.",
}
DEFAULT_ERROR_MESSAGE = "La connexion n'a pas abouti."

# The demo mailbox shows this many emails, the newest first.
MAILBOX_SIZE = 50
# A web address, without the punctuation that ends a sentence around it.
LINK = re.compile(r"(https?://[^\s<>\"]*[^\s<>\"().,;:!?'])")


def _settings(config):
    values = {
        "ISSUER": os.environ.get("ENT_ISSUER", "http://127.0.0.1:5000"),
        "CLIENT_ID": os.environ.get("ENT_CLIENT_ID", ""),
        "CLIENT_SECRET": os.environ.get("ENT_CLIENT_SECRET", ""),
        "BASE_URL": os.environ.get("ENT_BASE_URL", "http://127.0.0.1:8765"),
        "SECRET_KEY": os.environ.get("ENT_SECRET_KEY") or secrets.token_hex(32),
        "MAILBOX_DIR": os.environ.get("ENT_MAILBOX_DIR", ""),
        "DIRECTORY": os.environ.get("ENT_DIRECTORY", ""),
        "LOGOUTS_DB": os.environ.get("ENT_LOGOUTS_DB", ""),
        "SESSION_COOKIE_NAME": "ent_session",
        # Lax: a cross-site form cannot post to "Se déconnecter" with the person's session.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
    }
    values.update(config or {})
    values["ISSUER"] = values["ISSUER"].rstrip("/")
    values["BASE_URL"] = values["BASE_URL"].rstrip("/")
    return values


def linkify(text):
    """`text` escaped for HTML, its web addresses made links."""
    parts = LINK.split(text)
    html = [escape(part) if index % 2 == 0 else Markup('<a href="{0}">{0}</a>').format(part) for index, part in enumerate(parts)]
    return Markup("").join(html)


def read_mailbox(folder, limit=MAILBOX_SIZE):
    """The emails examples/smtp_catcher.py wrote in `folder`, the newest first: dicts with
    subject, recipient, date and the plain-text body."""
    paths = sorted(Path(folder).glob("*.eml"), reverse=True)[:limit] if folder else []
    messages = []
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        messages.append(
            {
                "subject": str(message.get("Subject", "")),
                "recipient": str(message.get("X-Demo-Rcpt-To") or message.get("To", "")),
                "sender": str(message.get("From", "")),
                "date": str(message.get("Date", "")),
                "text": body.get_content() if body is not None else "",
            }
        )
    return messages


def read_directory(source):
    """The ENT's directory, read at each login: its pupils, each with its legal guardians.
    `source` is the JSON file's path (empty without one), or a function that returns the
    directory (tests feed it straight from the provider's database)."""
    if callable(source):
        return source()["pupils"]
    if not source or not Path(source).exists():
        return []
    return json.loads(Path(source).read_text(encoding="utf-8"))["pupils"]


def _same_name(one, other):
    """Names compared as people type them: case, accents and spacing aside."""

    def plain(name):
        decomposed = unicodedata.normalize("NFKD", name or "")
        return " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).casefold().split())

    return plain(one) == plain(other)


def recognise(vectors, directory):
    """Who the vectors name in the directory: {"profile": "parent" or "eleve", "ent_ids": the
    ENT's own identifiers of the person, "children": the pupils}, or None when none matches.

    A vector is `profile|lastName|firstName|attachmentId|UAI`: the pupil is found by its
    establishment and SIECLE identifier; a guardian's vector (profile 1 or 2) must also name
    one of that pupil's legal guardians."""
    pupils = {(pupil["uai"], pupil["attachment_id"]): pupil for pupil in directory}
    found = {"profile": None, "ent_ids": [], "children": []}
    for vector in vectors or []:
        parts = vector.split("|")
        if len(parts) != 5:
            continue
        profile, family_name, given_name, attachment_id, uai = parts
        pupil = pupils.get((uai, attachment_id))
        if pupil is None:
            continue
        if profile in ("3", "4"):
            found["profile"], person = "eleve", pupil
        elif profile in ("1", "2"):
            person = next(
                (
                    each
                    for each in pupil["guardians"]
                    if _same_name(each["family_name"], family_name) and _same_name(each["given_name"], given_name)
                ),
                None,
            )
            if person is None:
                continue
            found["profile"] = "parent"
            found["children"].append(pupil)
        else:
            continue
        if person["id"] not in found["ent_ids"]:
            found["ent_ids"].append(person["id"])
    return found if found["ent_ids"] else None


BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# How old a logout token may be (its iat), and how long its jti is remembered against replays.
LOGOUT_TOKEN_MAX_AGE = 300


class EndedSessions:
    """The sessions the provider said were over, by sid (or every session of a sub before a
    moment), and the logout tokens already used; one SQLite file for every worker."""

    def __init__(self, path):
        self.path = path
        with self._connect() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS ended (sid TEXT, sub TEXT, at REAL)")
            connection.execute("CREATE TABLE IF NOT EXISTS used (jti TEXT PRIMARY KEY, at REAL)")

    def _connect(self):
        return sqlite3.connect(self.path, timeout=5)

    def note(self, claims):
        """Record the ending the logout token's `claims` announce; False for a replayed token."""
        now = time.time()
        with self._connect() as connection:
            connection.execute("DELETE FROM used WHERE at < ?", (now - 2 * LOGOUT_TOKEN_MAX_AGE,))
            try:
                connection.execute("INSERT INTO used VALUES (?, ?)", (claims["jti"], now))
            except sqlite3.IntegrityError:
                return False
            connection.execute("INSERT INTO ended VALUES (?, ?, ?)", (claims.get("sid"), claims.get("sub"), now))
        return True

    def is_over(self, user, logged_in_at):
        """True when the provider ended this login: its sid, or every session of its sub since."""
        with self._connect() as connection:
            found = connection.execute(
                "SELECT 1 FROM ended WHERE (sid IS NOT NULL AND sid = ?) OR (sid IS NULL AND sub = ? AND at >= ?) LIMIT 1",
                (user.get("sid"), user.get("sub"), logged_in_at),
            ).fetchone()
        return found is not None


def verified_logout_token(provider, client_id, issuer, token):
    """The claims of a logout token after the checks of Back-Channel Logout 1.0 §2.6 (signature
    by the provider's JWKS, typ, iss, aud, iat, exp, events, sub or sid, no nonce), or None."""
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(provider.fetch_jwk_set()), algorithms=["RS256"])
    except (JoseError, ValueError):
        return None
    claims, now = decoded.claims, time.time()
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    checks = (
        decoded.header.get("typ") == "logout+jwt",
        claims.get("iss") == issuer,
        client_id in audiences,
        isinstance(claims.get("iat"), int) and now - LOGOUT_TOKEN_MAX_AGE <= claims["iat"] <= now + 60,
        isinstance(claims.get("exp"), int) and claims["exp"] > now,
        isinstance(claims.get("events"), dict) and BACKCHANNEL_EVENT in claims["events"],
        bool(claims.get("sub") or claims.get("sid")),
        "nonce" not in claims,
        bool(claims.get("jti")),
    )
    return claims if all(checks) else None


def create_app(config=None):
    app = Flask(__name__)
    app.config.update(_settings(config))
    app.jinja_env.filters["linkify"] = linkify
    app.jinja_env.globals["has_mailbox"] = bool(app.config["MAILBOX_DIR"])
    if not app.config["CLIENT_ID"] or not app.config["CLIENT_SECRET"]:
        raise RuntimeError("ENT_CLIENT_ID and ENT_CLIENT_SECRET are required (idp client add --json prints them)")
    default_db = Path(tempfile.gettempdir()) / f"demo-ent-logouts-{app.config['CLIENT_ID']}.sqlite3"
    ended = EndedSessions(app.config["LOGOUTS_DB"] or str(default_db))
    oauth = OAuth(app)
    provider = oauth.register(
        "teleservices",
        client_id=app.config["CLIENT_ID"],
        client_secret=app.config["CLIENT_SECRET"],
        server_metadata_url=app.config["ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "token_endpoint_auth_method": "client_secret_basic"},
    )

    @app.before_request
    def forget_ended_sessions():
        """A login the provider ended (back-channel logout) is over here too."""
        if "user" in session and ended.is_over(session["user"], session.get("logged_in_at", 0)):
            session.clear()

    @app.post("/backchannel-logout")
    def backchannel_logout():
        """OpenID Connect Back-Channel Logout: the provider says a session is over."""
        claims = verified_logout_token(provider, app.config["CLIENT_ID"], app.config["ISSUER"], request.form.get("logout_token", ""))
        if claims is None or not ended.note(claims):
            return {"error": "invalid_request"}, 400, {"Cache-Control": "no-store"}
        return "", 200, {"Cache-Control": "no-store"}

    @app.get("/")
    def home():
        return render_template("home.html", user=session.get("user"))

    @app.get("/boite-mail")
    def mailbox():
        """The demo's mailbox: what the provider sent to the demo's SMTP server."""
        if not app.config["MAILBOX_DIR"]:
            abort(404)
        return render_template("mailbox.html", messages=read_mailbox(app.config["MAILBOX_DIR"]))

    @app.get("/connexion")
    def choose():
        return render_template("choose.html")

    @app.get("/connexion/teleservices")
    def login():
        return provider.authorize_redirect(app.config["BASE_URL"] + "/cb")

    @app.get("/cb")
    def callback():
        metadata = provider.load_server_metadata()
        # RFC 9207: the answer must come from the provider we asked, not from another one.
        if metadata.get("authorization_response_iss_parameter_supported") and request.args.get("iss") != metadata["issuer"]:
            raise OAuthError(error="invalid_issuer", description="unexpected 'iss' in the authorization response")
        token = provider.authorize_access_token()  # checks state, sends the PKCE verifier, validates the ID token
        claims = provider.userinfo(token=token)
        if claims["sub"] != token["userinfo"]["sub"]:
            raise OAuthError(error="invalid_userinfo", description="userinfo 'sub' differs from the ID token's")
        # The family is recognised by FrEduVecteur in this ENT's directory, never by `sub`.
        family = recognise(claims.get("FrEduVecteur"), read_directory(app.config["DIRECTORY"]))
        session.clear()
        if family is None:
            # Not logged in to the ENT: the provider's session ends when the person says so.
            return render_template(
                "error.html",
                message="Votre compte Téléservices ne correspond à aucun élève ni responsable connu de l'ENT. "
                "Contactez l'établissement pour qu'il vérifie le fichier des élèves.",
                code="unknown_family",
            ), 403
        # The session's sid (from the ID token) is what a back-channel logout names.
        session["user"] = dict(claims) | {"sid": token["userinfo"].get("sid")}
        session["family"] = family
        session["id_token"] = token["id_token"]
        session["logged_in_at"] = time.time()
        return redirect(url_for("space"))

    @app.get("/espace")
    def space():
        if "user" not in session:
            return redirect(url_for("choose"))
        return render_template(
            "space.html", user=session["user"], family=session.get("family"), manage_account_url=app.config["ISSUER"] + "/compte/"
        )

    @app.post("/deconnexion")
    def logout():
        id_token = session.get("id_token")
        session.clear()  # logged out of the ENT now, whatever the provider answers
        if id_token is None:
            return redirect(url_for("home"))
        return provider.logout_redirect(post_logout_redirect_uri=app.config["BASE_URL"] + "/logout-cb", id_token_hint=id_token)

    @app.get("/logout-cb")
    def logged_out():
        try:
            provider.validate_logout_response()  # the state sent with the logout request
        except OAuthError:
            return render_template(
                "error.html", message="Cette déconnexion ne correspond à aucune demande de l'ENT.", code="invalid_state"
            ), 400
        session.clear()
        return render_template("logged_out.html")

    @app.errorhandler(OAuthError)
    @app.errorhandler(JoseError)
    def failed(error):
        code = getattr(error, "error", None) or type(error).__name__
        message = ERROR_MESSAGES.get(code, DEFAULT_ERROR_MESSAGE)
        return render_template("error.html", message=message, code=code), 400

    @app.errorhandler(RequestException)
    def unreachable(error):
        app.logger.warning("provider unreachable: %s", error)
        return render_template(
            "error.html", message="Le service Téléservices ne répond pas. Réessayez dans quelques minutes.", code=None
        ), 502

    return app
