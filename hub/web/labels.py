"""Translated labels of the reference codes shown on the pages.

The codes themselves (stored, and used by the API) never change with the
language; these labels are the one place their wording lives, so the Lao terms
awaiting sign-off (see ../shared/GLOSSARY.md) are changed in the catalogs only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

CASE_STATUS = {
    "open": _l("Open"),
    "investigating": _l("Investigating"),
    "referred": _l("Referred"),
    "joint_operation": _l("Joint operation"),
    "prosecuted": _l("Prosecuted"),
    "closed": _l("Closed"),
}

DRUG_TYPE = {
    "meth_tablets": _l("Methamphetamine tablets"),
    "crystal_meth": _l("Crystal methamphetamine"),
    "heroin": _l("Heroin"),
    "cannabis": _l("Cannabis"),
    "ketamine": _l("Ketamine"),
    "opium": _l("Opium"),
    "precursors": _l("Precursor chemicals"),
    "other": _l("Other"),
}

# Translators: units of a seizure's quantity, as chosen in a list.
UNIT = {"kg": _l("kilograms (kg)"), "g": _l("grams (g)"), "tablets": _l("tablets")}

EXCHANGE_KIND = {
    "request": _l("Request for information"),
    "response": _l("Response"),
    "alert": _l("Alert"),
    "case_referral": _l("Case referral"),
    "joint_operation": _l("Joint-operation proposal"),
    "meeting": _l("Meeting record"),
    "periodic_report": _l("Periodic report"),
    "permission_request": _l("Permission request"),
}

#: What a package queued for a partner hub carries (OutboxItem.kind).
PACKAGE_KIND = {
    "exchange": _l("Exchange"),
    "acknowledgement": _l("Acknowledgement"),
    "closure": _l("Closing"),
    "translation": _l("Translation"),
    "attachment": _l("Attachment"),
}

EXCHANGE_STATUS = {
    "sent": _l("Sent"),
    "acknowledged": _l("Acknowledged"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
}

# Translators: Viet Nam's levels are Lưu hành nội bộ / Mật / Tối mật / Tuyệt mật.
CLASSIFICATION = {
    "restricted": _l("Restricted"),
    "confidential": _l("Confidential"),
    "secret": _l("Secret"),
    "top_secret": _l("Top secret"),
}

# Translators: the provider's conditions of use, in the style of Europol's handling codes.
HANDLING = {
    "H0": _l("H0 – use only to prevent and combat crime"),
    "H1": _l("H1 – not to be used in judicial proceedings without the provider's permission"),
    "H2": _l("H2 – no onward sharing without the provider's permission"),
    "H3": _l("H3 – other restrictions, stated by the provider"),
}

# Translators: Admiralty code for the reliability of a source (A–F).
RELIABILITY = {
    "A": _l("A – completely reliable"),
    "B": _l("B – usually reliable"),
    "C": _l("C – fairly reliable"),
    "D": _l("D – not usually reliable"),
    "E": _l("E – unreliable"),
    "F": _l("F – reliability cannot be judged"),
}

# Translators: Admiralty code for the credibility of a piece of information (1–6).
CREDIBILITY = {
    1: _l("1 – confirmed by other sources"),
    2: _l("2 – probably true"),
    3: _l("3 – possibly true"),
    4: _l("4 – doubtful"),
    5: _l("5 – improbable"),
    6: _l("6 – truth cannot be judged"),
}

LANGUAGE = {"vi": "Tiếng Việt", "lo": "ພາສາລາວ", "en": "English"}

#: Attachments' media types by the names officers know them by (format names, the
#: same in every language); a type not listed is shown as it is.
MEDIA_TYPE = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "text/plain": "TXT",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "application/vnd.oasis.opendocument.text": "ODT",
}


def options(pairs: Iterable[tuple[object, object]], *, blank: object = None) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs, optionally led by a blank entry."""
    rows = [SelectChoice(value=str(value), label=label) for value, label in pairs]
    return [SelectChoice(value="", label=blank), *rows] if blank is not None else rows


def choices(labels: Mapping[Any, object], *, blank: object = None) -> list[SelectChoice]:
    """SelectField choices from a label table, optionally led by a blank "any" entry."""
    return options(labels.items(), blank=blank)


def decimal_example() -> str:
    """1234.5 as the reader's language writes it (a hint beside quantity fields)."""
    from babel.numbers import format_decimal

    from hub.i18n import current_language

    return format_decimal(1234.5, locale=current_language())


def register(app: Flask) -> None:
    """Make the tables (as `labels`) and the quantity helpers available to every template."""
    import sys

    from hub.text import format_quantity

    app.jinja_env.globals.update(
        labels=sys.modules[__name__],
        format_quantity=format_quantity,
        decimal_example=decimal_example,
    )
