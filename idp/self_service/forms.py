"""Forms of « gérer son compte »; the password and address labels are the first connection's."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField
from wtforms.validators import DataRequired

from ..auth.activation_forms import REQUIRED, email_field, password_field


class PasswordChangeForm(FlaskForm):
    current_password = password_field(_l("mot de passe actuel"), "current-password")
    password = password_field(_l("nouveau mot de passe"), "new-password")
    password_confirmation = password_field(_l("confirmation du mot de passe"), "new-password")
    submit = SubmitField(_l("Changer le mot de passe"))


class EmailChangeForm(FlaskForm):
    email = email_field(_l("nouvelle adresse mail"))
    email_confirmation = email_field(_l("confirmation de l'adresse mail"))
    current_password = password_field(_l("mot de passe actuel"), "current-password")
    submit = SubmitField(_l("Changer l'adresse"))


class ConfirmEmailForm(FlaskForm):
    submit = SubmitField(_l("Confirmer l'adresse"))


class LanguageForm(FlaskForm):
    # The choices are the deployment's languages, set by the view.
    language = SelectField(_l("Langue des pages et des courriers"), validators=[DataRequired(message=REQUIRED)])
    submit = SubmitField(_l("Enregistrer la langue"))
