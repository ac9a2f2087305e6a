"""Date and time fields typed as text in the page's language.

The browser's own date inputs take their format and placeholder from the
browser's language (often English on a Lao officer's machine), not the page's;
these fields are plain text inputs that show the hub's input pattern
(hub.i18n.INPUT_DATE_PATTERN) and a translated hint, and parse what is typed
strictly (day first, four-digit year, or ISO).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import DateField, DateTimeField
from wtforms.widgets import TextInput

from hub.i18n import input_date, input_datetime, parse_input_date, parse_input_datetime

DATE_HINT = _l("dd/mm/yyyy")
DATETIME_HINT = _l("dd/mm/yyyy hh:mm")


class _Typed:
    """What both fields share; each names its hint, its parser, its display and the
    message WTForms gives for a value that is not one (translated with WTForms')."""

    widget = TextInput()
    hint = DATE_HINT
    parse: Callable[[str], Any] = staticmethod(parse_input_date)
    show: Callable[[Any], str] = staticmethod(input_date)
    message = "Not a valid date value."
    # Given by the WTForms field this is mixed into.
    raw_data: list[str] | None
    data: Any
    gettext: Callable[[str], str]

    def __call__(self, **kwargs: Any) -> Markup:
        kwargs.setdefault("placeholder", str(self.hint))
        kwargs.setdefault("inputmode", "numeric")
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(**kwargs)  # type: ignore[misc]  # the field mixed in has it

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return self.show(self.data) if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            self.data = None
            return
        try:
            self.data = self.parse(text)
        except ValueError:
            self.data = None
            raise ValueError(self.gettext(self.message)) from None


class LocaleDateField(_Typed, DateField):
    """A day typed as ``21/03/2025`` (or ``2025-03-21``)."""


class LocaleDateTimeField(_Typed, DateTimeField):
    """A local time typed as ``21/03/2025 14:05`` (or ``2025-03-21T14:05``), naive."""

    hint = DATETIME_HINT
    parse = staticmethod(parse_input_datetime)
    show = staticmethod(input_datetime)
    message = "Not a valid datetime value."
