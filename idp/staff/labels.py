"""Words of the back office for the domain's codes: account states and audit events."""

from flask_babel import lazy_gettext as _l

from ..models import AccountState

# In the order the dashboard shows them, with the colour of each in the chart.
STATES = [
    (AccountState.ACTIVE, _l("activés"), "#18753c"),
    (AccountState.PENDING_EMAIL, _l("en attente d'activation"), "#716043"),
    (AccountState.ISSUED, _l("édités, pas encore utilisés"), "#6a6af4"),
    (AccountState.EXPIRED, _l("expirés"), "#b34000"),
    (AccountState.INVALIDATED, _l("invalidés"), "#3a3a3a"),
    (AccountState.BLOCKED, _l("bloqués"), "#ce0500"),
]
STATE_LABELS = {state: label for state, label, _ in STATES}

# An account's history; an event not listed here is shown by its code.
EVENT_LABELS = {
    "account_created": _l("compte créé"),
    "account_issued": _l("compte édité (courrier imprimé)"),
    "account_regenerated": _l("compte régénéré (nouveau courrier)"),
    "teleservices_refused": _l("refus des téléservices enregistré"),
    "teleservices_refusal_withdrawn": _l("refus des téléservices annulé"),
    "guardian_removed_by_import": _l("responsable retiré par un import"),
    "login": _l("connexion"),
    "login_failed": _l("mot de passe erroné"),
    "login_refused": _l("connexion refusée"),
    "logout": _l("déconnexion"),
    "session_ended": _l("session fermée"),
    "authorized": _l("connexion à un service"),
    "authorization_refused": _l("connexion à un service refusée"),
    "consent_given": _l("autorisation donnée à un service"),
    "consent_refused": _l("autorisation refusée à un service"),
    "consent_revoked": _l("autorisation retirée à un service"),
    "token_revoked": _l("accès d'un service révoqué"),
}
