"""Forms of the exchange pages: parsing and CSRF only; rules live in hub.operations.exchanges."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from hub.web import labels
from hub.web.date_fields import LocaleDateField, LocaleDateTimeField


class ExchangeForm(FlaskForm):
    agreement = SelectField(_l("Agreement"), choices=[], validate_choice=False)
    recipient = SelectField(_l("Recipient"), choices=[], validate_choice=False)
    kind = SelectField(_l("Kind"), choices=[], validate_choice=False)
    subject = StringField(_l("Subject (plaintext, keep it short and safe)"))
    body = TextAreaField(_l("Body"))
    classification = SelectField(
        _l("Classification"),
        choices=labels.choices(labels.CLASSIFICATION),
        validate_choice=False,
    )
    reliability = SelectField(
        _l("Source reliability"),
        choices=labels.choices(labels.RELIABILITY),
        validate_choice=False,
    )
    credibility = SelectField(
        _l("Information credibility"),
        choices=labels.choices(labels.CREDIBILITY),
        validate_choice=False,
    )
    handling = SelectField(
        _l("Handling code"), choices=labels.choices(labels.HANDLING), validate_choice=False
    )
    handling_note = StringField(_l("Conditions in words (for H3)"))
    # Typed in the local time of the border provinces (UTC+7); empty means now.
    sent_at = LocaleDateTimeField(
        _l("Sent at (if it happened earlier, e.g. by phone)"), validators=[Optional()]
    )
    case = SelectField(_l("Linked case"), choices=[], validate_choice=False)
    in_reply_to = HiddenField()
    # Only in a response to a permission request.
    permission_granted = SelectField(
        _l("Permission"),
        choices=labels.options([("yes", _l("Granted")), ("no", _l("Refused"))], blank="—"),
        validate_choice=False,
    )
    attachments = MultipleFileField(_l("Attachments"))


class TranslationForm(FlaskForm):
    language = SelectField(
        _l("Language of the translation"), choices=labels.choices(labels.LANGUAGE)
    )
    body = TextAreaField(_l("Translation"))


class ExchangeFilterForm(FlaskForm):
    """The list's filters arrive in the query string: no CSRF for a read."""

    class Meta:
        csrf = False

    q = StringField(_l("Subject or case reference"))
    agreement = SelectField(_l("Agreement"), choices=[], validate_choice=False)
    partner = SelectField(_l("Partner organisation"), choices=[], validate_choice=False)
    kind = SelectField(
        _l("Kind"),
        choices=labels.choices(labels.EXCHANGE_KIND, blank=_l("Any")),
        validate_choice=False,
    )
    status = SelectField(
        _l("Status"),
        choices=labels.choices(labels.EXCHANGE_STATUS, blank=_l("Any")),
        validate_choice=False,
    )
    classification = SelectField(
        _l("Classification"),
        choices=labels.choices(labels.CLASSIFICATION, blank=_l("Any")),
        validate_choice=False,
    )
    case = IntegerField(_l("Case number"), validators=[Optional()])
    sent_from = LocaleDateField(_l("Sent from"), validators=[Optional()])
    sent_to = LocaleDateField(_l("Sent until"), validators=[Optional()])
    overdue = BooleanField(_l("Overdue only"))
