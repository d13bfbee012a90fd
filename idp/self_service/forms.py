"""Forms of « gérer son compte »; the password and address labels are the first connection's."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SubmitField
from wtforms.validators import DataRequired, Length

from ..auth.activation_forms import REQUIRED
from ..auth.forms import TOO_LONG


def _password(label, autocomplete):
    return PasswordField(
        label,
        validators=[DataRequired(message=REQUIRED), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": autocomplete, "required": True},
    )


def _email(label):
    return EmailField(
        label,
        validators=[DataRequired(message=REQUIRED), Length(max=254, message=TOO_LONG)],
        render_kw={"autocomplete": "email", "required": True, "spellcheck": "false"},
    )


class PasswordChangeForm(FlaskForm):
    current_password = _password(_l("mot de passe actuel"), "current-password")
    password = _password(_l("nouveau mot de passe"), "new-password")
    password_confirmation = _password(_l("confirmation du mot de passe"), "new-password")
    submit = SubmitField(_l("Changer le mot de passe"))


class EmailChangeForm(FlaskForm):
    email = _email(_l("nouvelle adresse mail"))
    email_confirmation = _email(_l("confirmation de l'adresse mail"))
    current_password = _password(_l("mot de passe actuel"), "current-password")
    submit = SubmitField(_l("Changer l'adresse"))


class ConfirmEmailForm(FlaskForm):
    submit = SubmitField(_l("Confirmer l'adresse"))


class LanguageForm(FlaskForm):
    # The choices are the deployment's languages, set by the view.
    language = SelectField(_l("Langue des pages et des courriers"), validators=[DataRequired(message=REQUIRED)])
    submit = SubmitField(_l("Enregistrer la langue"))
