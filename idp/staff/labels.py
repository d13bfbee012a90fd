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

# The state of one account, where a single account is shown.
STATE_LABEL = {
    AccountState.ACTIVE: _l("actif"),
    AccountState.PENDING_EMAIL: _l("en attente d'activation"),
    AccountState.ISSUED: _l("édité, pas encore utilisé"),
    AccountState.EXPIRED: _l("expiré"),
    AccountState.INVALIDATED: _l("invalidé"),
    AccountState.BLOCKED: _l("bloqué"),
}

# Every event the code records (tests/staff/test_labels.py reads the source to check it), in
# words: the account's history shows these, never the codes.
EVENT_LABELS = {
    # Accounts and letters
    "account_created": _l("Compte créé"),
    "account_issued": _l("Compte édité (courrier imprimé)"),
    "account_regenerated": _l("Compte régénéré (nouveau courrier)"),
    "account_activated": _l("Compte activé"),
    "account_blocked": _l("Compte bloqué"),
    "teleservices_refused": _l("Refus des téléservices enregistré"),
    "teleservices_refusal_withdrawn": _l("Refus des téléservices annulé"),
    "guardian_removed_by_import": _l("Responsable retiré par un import"),
    "pupils_imported": _l("Import des élèves"),
    "sweep": _l("Contrôle quotidien des comptes"),
    "purge": _l("Purge des données expirées"),
    # First connection and activation
    "login_provisional": _l("Connexion avec le mot de passe provisoire"),
    "first_connection": _l("Première connexion"),
    "first_connection_birth_date_failed": _l("Première connexion : date de naissance erronée"),
    "first_connection_throttled": _l("Première connexion : trop d'essais"),
    "activation_sent": _l("Courrier électronique d'activation envoyé"),
    "activation_email_corrected": _l("Adresse mail corrigée avant l'activation"),
    "activation_email_throttled": _l("Renvoi du courrier électronique : trop de demandes"),
    # Logging in and out
    "login": _l("Connexion au compte"),
    "login_failed": _l("Mot de passe erroné"),
    "login_refused": _l("Connexion refusée"),
    "login_throttled": _l("Connexion : trop d'essais"),
    "logout": _l("Déconnexion du compte"),
    "logged_out_everywhere": _l("Déconnexion de tous les appareils"),
    "session_ended": _l("Session fermée"),
    "logout_notice_delivered": _l("Déconnexion annoncée à un service"),
    "logout_notice_given_up": _l("Déconnexion non remise à un service (abandon)"),
    # Forgotten password or identifier
    "password_reset_requested": _l("Demande de mot de passe oublié"),
    "password_reset_throttled": _l("Mot de passe oublié : trop de demandes"),
    "password_reset_failed": _l("Mot de passe oublié : mot de passe temporaire erroné"),
    "password_reset": _l("Nouveau mot de passe choisi (mot de passe oublié)"),
    "forgotten_password_throttled": _l("Mot de passe oublié : trop de demandes"),
    "identifier_reminder_requested": _l("Demande d'identifiant oublié"),
    "forgotten_identifier_throttled": _l("Identifiant oublié : trop de demandes"),
    # Managing one's account
    "password_changed": _l("Mot de passe changé"),
    "password_change_throttled": _l("Changement de mot de passe : trop d'essais"),
    "password_change_wrong_password": _l("Changement de mot de passe : mot de passe actuel erroné"),
    "email_change_requested": _l("Demande de changement d'adresse mail"),
    "email_change_throttled": _l("Changement d'adresse mail : trop d'essais"),
    "email_change_wrong_password": _l("Changement d'adresse mail : mot de passe actuel erroné"),
    "email_changed": _l("Adresse mail changée"),
    "mail_address_refused": _l("Courrier électronique non envoyé : adresse invalide"),
    "mail_given_up": _l("Courrier électronique abandonné après plusieurs essais"),
    # Connected services
    "authorized": _l("Connexion à un service"),
    "authorization_refused": _l("Connexion à un service refusée"),
    "consent_given": _l("Autorisation donnée à un service"),
    "consent_refused": _l("Autorisation refusée à un service"),
    "consent_revoked": _l("Autorisation retirée à un service"),
    "service_revoked": _l("Accès d'un service retiré"),
    "token_revoked": _l("Accès d'un service révoqué"),
    "code_replayed": _l("Code de connexion réutilisé : accès du service révoqué"),
    "refresh_token_reused": _l("Jeton réutilisé : accès du service révoqué"),
    # Back office and administration
    "staff_added": _l("Personnel ajouté"),
    "staff_enrolled": _l("Personnel inscrit"),
    "staff_enrolment_failed": _l("Inscription d'un personnel échouée"),
    "staff_enrolment_restarted": _l("Inscription d'un personnel relancée"),
    "staff_login": _l("Connexion d'un personnel"),
    "staff_login_failed": _l("Connexion d'un personnel échouée"),
    "staff_login_throttled": _l("Connexion d'un personnel : trop d'essais"),
    "staff_logout": _l("Déconnexion d'un personnel"),
    "staff_password_set": _l("Mot de passe d'un personnel défini"),
    "establishment_added": _l("Établissement ajouté"),
    "establishment_updated": _l("Établissement modifié (nom, degré ou coordonnées)"),
    "client_added": _l("Service connecté ajouté"),
    "client_updated": _l("Service connecté modifié"),
    "client_removed": _l("Service connecté retiré"),
    "client_secret_rotated": _l("Secret d'un service connecté renouvelé"),
    "client_disabled": _l("Service connecté désactivé"),
    "client_enabled": _l("Service connecté réactivé"),
    "saml_sp_added": _l("Service SAML ajouté"),
    "saml_sp_updated": _l("Service SAML modifié"),
    "saml_sp_removed": _l("Service SAML retiré"),
    "saml_request_refused": _l("Demande SAML refusée"),
    "signing_key_rotated": _l("Clé de signature renouvelée"),
    "signing_key_pruned": _l("Ancienne clé de signature retirée"),
}

# The fields of a relying party's registration (idp.relying_parties.registration.describe), as
# its history names the ones a change touched.
CLIENT_FIELD_LABELS = {
    "name": _l("nom"),
    "category": _l("catégorie"),
    "auth_method": _l("authentification"),
    "redirect_uris": _l("URI de redirection"),
    "post_logout_redirect_uris": _l("URI de retour après déconnexion"),
    "scopes": _l("scopes"),
    "claims": _l("informations transmises"),
    "trusted": _l("consentement"),
    "subject_type": _l("identifiant (sub)"),
    "backchannel_logout_uri": _l("déconnexion back-channel"),
    "backchannel_logout_session_required": _l("sid exigé (back-channel)"),
    "frontchannel_logout_uri": _l("déconnexion front-channel"),
    "frontchannel_logout_session_required": _l("sid exigé (front-channel)"),
    "logo_uri": _l("logo"),
    "contact": _l("contact"),
}

# An event recorded by a newer version than this one's labels, never shown by its code.
UNKNOWN_EVENT = _l("Autre événement")


def event_label(event):
    """The words for an audit event's code."""
    return EVENT_LABELS.get(event, UNKNOWN_EVENT)
