"""Forms of the case pages: parsing and CSRF only; the rules live in hub.operations.cases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import Optional

from hub.web import labels
from hub.web.date_fields import LocaleDateField

#: Seizure rows offered on the case form; empty rows are ignored.
SEIZURE_ROWS = 3


class SeizureRow(Form):
    """One seizure line.  The quantity is typed text, parsed strictly in the reader's locale."""

    drug_type = SelectField(_l("Drug"), choices=[], validate_choice=False)
    quantity = StringField(_l("Quantity"))
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False)
    seized_on = LocaleDateField(_l("Seized on"), validators=[Optional()])

    def is_blank(self) -> bool:
        return not (self.quantity.data or "").strip()


class CaseForm(FlaskForm):
    reference = StringField(_l("Reference"))
    title = StringField(_l("Title"))
    opened_on = LocaleDateField(_l("Opened on"), validators=[Optional()])
    province = SelectField(_l("Province"), choices=[], validate_choice=False)
    district = SelectField(_l("District"), choices=[], validate_choice=False)
    # Translators: a village in Laos or a commune in Viet Nam.
    locality = SelectField(_l("Village or commune"), choices=[], validate_choice=False)
    border_gate = SelectField(_l("Border gate"), choices=[], validate_choice=False)
    place_note = StringField(_l("Route or other place details"))
    organisations = SelectMultipleField(
        _l("Organisations involved"), choices=[], validate_choice=False
    )
    seizures = FieldList(FormField(SeizureRow), min_entries=SEIZURE_ROWS, max_entries=20)
    # Set when the parsed quantities were shown back; must match them to save.
    confirmed = HiddenField()

    def fill_choices(
        self,
        *,
        places: Mapping[str, Iterable[tuple[object, object]]],
        organisations: Iterable[tuple[object, object]],
    ) -> None:
        """Choices come from the database (places valid on the case's date)."""
        self.province.choices = labels.options(places["province"], blank="—")
        self.district.choices = labels.options(places["district"], blank="—")
        self.locality.choices = labels.options(places["locality"], blank="—")
        self.border_gate.choices = labels.options(places["border_gate"], blank="—")
        self.organisations.choices = labels.options(organisations)
        for row in self.seizures:
            row.drug_type.choices = labels.choices(labels.DRUG_TYPE)
            row.unit.choices = labels.choices(labels.UNIT)


class SeizureForm(FlaskForm):
    """Adding one seizure to an existing case (same confirm step as the case form)."""

    drug_type = SelectField(_l("Drug"), choices=labels.choices(labels.DRUG_TYPE))
    quantity = StringField(_l("Quantity"))
    unit = SelectField(_l("Unit"), choices=labels.choices(labels.UNIT))
    seized_on = LocaleDateField(_l("Seized on"), validators=[Optional()])
    confirmed = HiddenField()


class SuspectForm(FlaskForm):
    name = StringField(_l("Name"))
    date_of_birth = LocaleDateField(_l("Date of birth"), validators=[Optional()])
    nationality = SelectField(
        _l("Nationality"),
        choices=labels.options(
            [("VN", _l("Viet Nam")), ("LA", _l("Laos")), ("other", _l("Other"))], blank="—"
        ),
    )
    identity_document = StringField(_l("Identity document number"))


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=labels.choices(labels.CASE_STATUS))


class CaseFilterForm(FlaskForm):
    """The list's filters arrive in the query string: no CSRF for a read."""

    class Meta:
        csrf = False

    q = StringField(_l("Reference or title"))
    status = SelectField(
        _l("Status"),
        choices=labels.choices(labels.CASE_STATUS, blank=_l("Any")),
        validate_choice=False,
    )
    opened_from = LocaleDateField(_l("Opened from"), validators=[Optional()])
    opened_to = LocaleDateField(_l("Opened until"), validators=[Optional()])
