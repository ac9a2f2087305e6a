"""Date and time fields typed as text in the page's language.

The browser's own date inputs take their format and placeholder from the
browser's language (often English on a Lao officer's machine), not the page's;
these fields are plain text inputs that show the hub's input pattern
(hub.i18n.INPUT_DATE_PATTERN) and a translated hint, and parse what is typed
strictly (day first, four-digit year, or ISO).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, DateTimeField
from wtforms.widgets import TextInput

from hub.i18n import input_date, input_datetime, parse_input_date, parse_input_datetime

DATE_HINT = _l("dd/mm/yyyy")
DATETIME_HINT = _l("dd/mm/yyyy hh:mm")


class _Typed:
    widget = TextInput()
    hint = DATE_HINT

    def __call__(self, **kwargs):
        kwargs.setdefault("placeholder", str(self.hint))
        kwargs.setdefault("inputmode", "numeric")
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(**kwargs)


class LocaleDateField(_Typed, DateField):
    """A day typed as ``21/03/2025`` (or ``2025-03-21``)."""

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return input_date(self.data) if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            self.data = None
            return
        try:
            self.data = parse_input_date(text)
        except ValueError:
            self.data = None
            raise ValueError(self.gettext("Not a valid date value.")) from None


class LocaleDateTimeField(_Typed, DateTimeField):
    """A local time typed as ``21/03/2025 14:05`` (or ``2025-03-21T14:05``), naive."""

    hint = DATETIME_HINT

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return input_datetime(self.data) if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            self.data = None
            return
        try:
            self.data = parse_input_datetime(text)
        except ValueError:
            self.data = None
            raise ValueError(self.gettext("Not a valid datetime value.")) from None
