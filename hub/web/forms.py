"""Form classes: parsing and CSRF only; the rules live in hub.operations."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class LanguageForm(FlaskForm):
    language = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("vi", "Tiếng Việt"),
            SelectChoice("lo", "ພາສາລາວ"),
            SelectChoice("en", "English"),
        ],
    )
    next = HiddenField()


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for one-click POST actions."""
