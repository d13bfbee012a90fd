"""Forms of the back office; every field has its label, every message its translation."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

TOO_LONG = _l("Ce champ est trop long.")


def choice_field(label, choices, message, default=None):
    """Radio buttons whose only valid answers are the values of `choices` [(value, label)];
    `message` when the answer is none of them."""
    return RadioField(
        label,
        validate_choice=False,
        validators=[AnyOf([value for value, _text in choices], message=message)],
        choices=[SelectChoice(value, text) for value, text in choices],
        default=default,
    )


DEGREES = [("2d", _l("second degré (collège, lycée)")), ("1d", _l("premier degré (école)"))]


class LoginForm(FlaskForm):
    email = StringField(
        _l("Adresse mail"),
        validators=[DataRequired(message=_l("Saisissez votre adresse mail.")), Length(max=254, message=TOO_LONG)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false", "type": "email"},
    )
    password = PasswordField(
        _l("Mot de passe"),
        validators=[DataRequired(message=_l("Saisissez votre mot de passe.")), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField(_l("Se connecter"))


class SecondFactorForm(FlaskForm):
    code = StringField(
        _l("Code de vérification"),
        validators=[DataRequired(message=_l("Saisissez le code affiché par votre application.")), Length(max=40, message=TOO_LONG)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Valider"))


class EnrolmentForm(FlaskForm):
    password = PasswordField(
        _l("Nouveau mot de passe"),
        validators=[DataRequired(message=_l("Choisissez un mot de passe.")), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": "new-password"},
    )
    confirmation = PasswordField(
        _l("Confirmation du mot de passe"),
        validators=[
            DataRequired(message=_l("Confirmez le mot de passe.")),
            EqualTo("password", message=_l("Les deux mots de passe sont différents.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Valider"))


class EstablishmentForm(FlaskForm):
    uai = StringField(
        _l("UAI"),
        validators=[DataRequired(message=_l("Saisissez l'UAI.")), Length(max=8, message=TOO_LONG)],
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    name = StringField(_l("Nom"), validators=[DataRequired(message=_l("Saisissez le nom.")), Length(max=200, message=TOO_LONG)])
    degree = choice_field(_l("Degré"), DEGREES, _l("Choisissez le degré."), default="2d")
    submit = SubmitField(_l("Ajouter l'établissement"))


class EstablishmentEditForm(FlaskForm):
    """The académie changes an establishment's name and degree (its UAI never changes)."""

    name = StringField(_l("Nom"), validators=[DataRequired(message=_l("Saisissez le nom.")), Length(max=200, message=TOO_LONG)])
    degree = choice_field(_l("Degré"), DEGREES, _l("Choisissez le degré."))
    submit = SubmitField(_l("Enregistrer"))


class StaffForm(FlaskForm):
    email = StringField(
        _l("Adresse mail"),
        validators=[DataRequired(message=_l("Saisissez l'adresse mail.")), Length(max=254, message=TOO_LONG)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "type": "email"},
    )
    given_name = StringField(_l("Prénom"), validators=[DataRequired(message=_l("Saisissez le prénom.")), Length(max=100, message=TOO_LONG)])
    family_name = StringField(_l("Nom"), validators=[DataRequired(message=_l("Saisissez le nom.")), Length(max=100, message=TOO_LONG)])
    role = choice_field(
        _l("Rôle"),
        [
            ("etablissement", _l("personnel d'établissement")),
            ("academie", _l("administrateur de l'académie")),
        ],
        _l("Choisissez le rôle."),
        default="etablissement",
    )
    uais = StringField(_l("Établissements (UAI)"), validators=[Optional(), Length(max=400, message=TOO_LONG)])
    submit = SubmitField(_l("Ajouter le personnel"))


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Nom ou identifiant"), validators=[Optional(), Length(max=100, message=TOO_LONG)])


class ImportForm(FlaskForm):
    files = MultipleFileField(_l("Fichiers"))
    complete = BooleanField(_l("Fichier complet : les élèves absents du fichier ont quitté l'établissement"))
    submit = SubmitField(_l("Importer"))


class IssueForm(FlaskForm):
    # Choices: "" (every class) and the establishment's classes, set by the view; a class
    # gone since the page was shown is refused by issue_accounts, in words.
    class_name = SelectField(_l("Classe"), choices=[], validate_choice=False)
    kind = choice_field(
        _l("Comptes"),
        [("all", _l("parents et élèves")), ("parent", _l("parents")), ("eleve", _l("élèves"))],
        _l("Choisissez les comptes à éditer."),
        default="all",
    )
    submit = SubmitField(_l("Éditer les comptes et télécharger les courriers"))


class RegenerateForm(FlaskForm):
    confirm = BooleanField(
        _l("Je confirme : le mot de passe actuel, les connexions en cours et l'adresse mail du compte ne fonctionneront plus"),
        validators=[DataRequired(message=_l("Cochez la case pour confirmer la régénération."))],
    )
    submit = SubmitField(_l("Régénérer et télécharger le courrier"))


class RefusalForm(FlaskForm):
    refused = HiddenField(validators=[AnyOf(["0", "1"])])


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""

    submit = SubmitField()


class EstablishmentContactForm(FlaskForm):
    """How families reach the establishment, as the letters print it (all optional)."""

    address = TextAreaField(
        _l("Adresse postale"),
        validators=[Optional(), Length(max=300, message=TOO_LONG)],
        render_kw={"rows": 4, "autocomplete": "off"},
    )
    phone = StringField(
        _l("Téléphone"), validators=[Optional(), Length(max=30, message=TOO_LONG)], render_kw={"type": "tel", "autocomplete": "off"}
    )
    contact = StringField(_l("Ligne de contact"), validators=[Optional(), Length(max=200, message=TOO_LONG)])
    submit = SubmitField(_l("Enregistrer les coordonnées"))


class CheckboxesField(SelectMultipleField):
    """Several choices, each its own checkbox (rendered one by one by the template)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


URIS_HINT = _l("Une adresse par ligne, https:// (http:// seulement sur 127.0.0.1 ou localhost), sans joker ni fragment.")


def _uri_field(label):
    """An optional URI of a relying party's registration (the domain checks its rules)."""
    return StringField(
        label, validators=[Optional(), Length(max=500, message=TOO_LONG)], render_kw={"autocapitalize": "none", "spellcheck": "false"}
    )


class ClientForm(FlaskForm):
    """A relying party's registration; the rules (and their messages) are those of
    idp.relying_parties.registration, which the view calls."""

    name = StringField(
        _l("Nom du service"),
        validators=[DataRequired(message=_l("Saisissez le nom du service.")), Length(max=200, message=TOO_LONG)],
    )
    category = choice_field(
        _l("Catégorie"),
        [
            ("ent", _l("ENT (ouvert même aux familles qui refusent les téléservices)")),
            ("teleservice", _l("téléservice")),
        ],
        _l("Choisissez la catégorie."),
        default="teleservice",
    )
    consent = choice_field(
        _l("Consentement"),
        [
            ("ask", _l("demandé à chaque personne, une fois")),
            ("trusted", _l("non demandé (service de confiance)")),
        ],
        _l("Choisissez si le consentement est demandé."),
        default="ask",
    )
    redirect_uris = TextAreaField(
        _l("URI de redirection"),
        validators=[DataRequired(message=_l("Saisissez au moins une URI de redirection.")), Length(max=5000, message=TOO_LONG)],
        render_kw={"rows": 3, "autocapitalize": "none", "spellcheck": "false"},
    )
    post_logout_redirect_uris = TextAreaField(
        _l("URI de retour après déconnexion"),
        validators=[Optional(), Length(max=5000, message=TOO_LONG)],
        render_kw={"rows": 2, "autocapitalize": "none", "spellcheck": "false"},
    )
    backchannel_logout_uri = _uri_field(_l("URI de déconnexion back-channel"))
    backchannel_logout_session_required = BooleanField(_l("Le logout token doit porter l'identifiant de session (sid)"))
    frontchannel_logout_uri = _uri_field(_l("URI de déconnexion front-channel"))
    frontchannel_logout_session_required = BooleanField(_l("Ajouter iss et sid à l'URI front-channel"))
    auth_method = choice_field(
        _l("Authentification du service"),
        [
            ("client_secret_basic", _l("secret dans l'en-tête Authorization (client_secret_basic)")),
            ("client_secret_post", _l("secret dans le corps de la requête (client_secret_post)")),
            ("none", _l("aucun secret : service public, PKCE obligatoire (none)")),
        ],
        _l("Choisissez l'authentification."),
        default="client_secret_basic",
    )
    scopes = CheckboxesField(_l("Scopes autorisés"), choices=[], validate_choice=False)
    claims_mode = choice_field(
        _l("Informations transmises"),
        [
            ("all", _l("toutes celles des scopes autorisés")),
            ("chosen", _l("seulement celles cochées ci-dessous")),
        ],
        _l("Choisissez les informations transmises."),
        default="all",
    )
    claims = CheckboxesField(_l("Informations"), choices=[], validate_choice=False)
    subject_type = choice_field(
        _l("Identifiant de la personne (sub)"),
        [
            ("public", _l("le même pour tous les services (public)")),
            ("pairwise", _l("propre à ce service (pairwise : toutes les URI de redirection sur un même hôte)")),
        ],
        _l("Choisissez le type d'identifiant."),
        default="public",
    )
    logo_uri = _uri_field(_l("Adresse du logo"))
    contact = StringField(_l("Contact du service"), validators=[Optional(), Length(max=200, message=TOO_LONG)])
    submit = SubmitField(_l("Enregistrer le service"))


OVERLAPS = [("0", _l("immédiatement")), ("1", _l("dans 1 heure")), ("24", _l("dans 24 heures")), ("168", _l("dans 7 jours"))]


class RotateSecretForm(FlaskForm):
    overlap = choice_field(
        _l("L'ancien secret cesse de fonctionner"),
        [*OVERLAPS, ("other", _l("dans un autre nombre d'heures"))],
        _l("Choisissez quand l'ancien secret cesse."),
        default="24",
    )
    hours = StringField(
        _l("Nombre d'heures (pour « dans un autre nombre d'heures »)"),
        validators=[Optional(), Length(max=6, message=TOO_LONG)],
        render_kw={"inputmode": "numeric"},
    )
    submit = SubmitField(_l("Renouveler le secret"))


class RemoveClientForm(FlaskForm):
    submit = SubmitField(_l("Supprimer définitivement le service"))
