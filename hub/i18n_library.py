"""WTForms' own messages, translated from our catalog.

WTForms ships no Vietnamese or Lao catalog, so the messages its validators and
fields print are listed here for extraction, and `FormTranslations` answers
WTForms from translations/ in the request's language (hub.i18n installs it on
every request).  marshmallow's messages are replaced by translatable ones in
hub.api.schemas; tests/app/test_i18n.py checks that none of its defaults leak.
"""

from __future__ import annotations

import re

from flask_babel import get_translations, ngettext


def N_(message: str) -> str:
    """Mark `message` for extraction only; it is translated where it is shown."""
    return message


class FormTranslations:
    """What WTForms calls for its own messages, answered from the hub's catalog."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)

    # flask_wtf's translations object calls these spellings.
    ugettext = gettext
    ungettext = ngettext


# WTForms' messages for the validators and fields our forms use (wtforms/locale/wtforms.pot).
WTFORMS_MESSAGES = (
    N_("This field is required."),
    N_("Invalid input."),
    N_("Not a valid choice."),
    N_("Invalid Choice: could not coerce."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Not a valid float value."),
    N_("Not a valid date value."),
    N_("Not a valid datetime value."),
    N_("Not a valid time value."),
    N_("Field must be equal to %(other_name)s."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Date must be at least %(min)s."),
    N_("Date must be at most %(max)s."),
    N_("Date must be between %(min)s and %(max)s."),
    N_("Invalid email address."),
    N_("Invalid value, must be one of: %(values)s."),
    N_("Invalid value, can't be any of: %(values)s."),
    N_("Invalid choice(s): one or more data inputs could not be coerced."),
    N_("File does not have an approved extension."),
)


def wtforms_plural_messages(n: int) -> list[str]:
    """WTForms' counted messages, in the current language (also what puts them in the catalog)."""
    return [
        ngettext(
            "Field must be at least %(min)d character long.",
            "Field must be at least %(min)d characters long.",
            n,
            min=n,
        ),
        ngettext(
            "Field cannot be longer than %(max)d character.",
            "Field cannot be longer than %(max)d characters.",
            n,
            max=n,
        ),
        ngettext(
            "Field must be exactly %(max)d character long.",
            "Field must be exactly %(max)d characters long.",
            n,
            max=n,
        ),
    ]


_FIELD = re.compile(r"\{(\w+)(?:![rsa])?(?::[^}]*)?\}")


def placeholders(text: str) -> set[str]:
    """The named fields of a brace template (`{min}`, `{input!r}` -> {"min", "input"})."""
    return {name for name in _FIELD.findall(text)}
