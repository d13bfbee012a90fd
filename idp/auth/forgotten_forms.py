"""Forms of « mot de passe oublié » and « identifiant oublié »; labels are the guide's words."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from .activation_forms import REQUIRED, password_field
from .forms import TOO_LONG


class ForgottenPasswordForm(FlaskForm):
    identifier = StringField(
        _l("Identifiant"),
        validators=[DataRequired(message=_l("Saisissez votre identifiant.")), Length(max=64, message=TOO_LONG)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    next = HiddenField()
    submit = SubmitField(_l("Valider"))


class ForgottenIdentifierForm(FlaskForm):
    email = EmailField(
        _l("Adresse mail"),
        validators=[DataRequired(message=_l("Saisissez votre adresse mail.")), Length(max=254, message=TOO_LONG)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
    next = HiddenField()
    submit = SubmitField(_l("Valider"))


class ResetPasswordForm(FlaskForm):
    temporary_password = StringField(
        _l("mot de passe temporaire"),
        validators=[DataRequired(message=REQUIRED), Length(max=64, message=TOO_LONG)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false", "required": True},
    )
    password = password_field(_l("nouveau mot de passe"))
    password_confirmation = password_field(_l("confirmation du mot de passe"))
    submit = SubmitField(_l("Valider"))
