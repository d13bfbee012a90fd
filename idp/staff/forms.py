"""Forms of the back office; every field has its label, every message its translation."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Optional

TOO_LONG = _l("Ce champ est trop long.")


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
    degree = RadioField(
        _l("Degré"),
        validate_choice=False,
        validators=[AnyOf(["1d", "2d"], message=_l("Choisissez le degré."))],
        choices=[SelectChoice("2d", _l("second degré (collège, lycée)")), SelectChoice("1d", _l("premier degré (école)"))],
        default="2d",
    )
    submit = SubmitField(_l("Ajouter l'établissement"))


class EstablishmentEditForm(FlaskForm):
    """The académie changes an establishment's name and degree (its UAI never changes)."""

    name = StringField(_l("Nom"), validators=[DataRequired(message=_l("Saisissez le nom.")), Length(max=200, message=TOO_LONG)])
    degree = RadioField(
        _l("Degré"),
        validate_choice=False,
        validators=[AnyOf(["1d", "2d"], message=_l("Choisissez le degré."))],
        choices=[SelectChoice("2d", _l("second degré (collège, lycée)")), SelectChoice("1d", _l("premier degré (école)"))],
    )
    submit = SubmitField(_l("Enregistrer"))


class StaffForm(FlaskForm):
    email = StringField(
        _l("Adresse mail"),
        validators=[DataRequired(message=_l("Saisissez l'adresse mail.")), Length(max=254, message=TOO_LONG)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "type": "email"},
    )
    given_name = StringField(_l("Prénom"), validators=[DataRequired(message=_l("Saisissez le prénom.")), Length(max=100, message=TOO_LONG)])
    family_name = StringField(_l("Nom"), validators=[DataRequired(message=_l("Saisissez le nom.")), Length(max=100, message=TOO_LONG)])
    role = RadioField(
        _l("Rôle"),
        validate_choice=False,
        validators=[AnyOf(["etablissement", "academie"], message=_l("Choisissez le rôle."))],
        choices=[
            SelectChoice("etablissement", _l("personnel d'établissement")),
            SelectChoice("academie", _l("administrateur de l'académie")),
        ],
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
    kind = RadioField(
        _l("Comptes"),
        validate_choice=False,
        validators=[AnyOf(["all", "parent", "eleve"], message=_l("Choisissez les comptes à éditer."))],
        choices=[SelectChoice("all", _l("parents et élèves")), SelectChoice("parent", _l("parents")), SelectChoice("eleve", _l("élèves"))],
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
