"""The locale policy: which language a request is served in, and how times are shown.

Order: the user's saved preference, then the language chosen with the switcher
(remembered in a cookie), then the browser's Accept-Language, then the
organisation's country (vi for Viet Nam, lo for Laos).  Anything unknown falls
through quietly to the next step.  Outside a request (the `hub` command) the
shell's locale decides (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), else English.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path

from babel.core import Locale, default_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.units import format_unit
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, format_date, format_datetime, get_locale, refresh

from hub.config import PROJECT_ROOT
from hub.i18n_library import FormTranslations

LOCALES = ("vi", "lo", "en")
LANG_COOKIE = "hub_lang"
#: Nothing known about the reader (anonymous, no header): the hub's home language.
DEFAULT_LOCALE = "vi"
COUNTRY_LANGUAGE = {"VN": "vi", "LA": "lo"}
ZONES = {"vi": "Asia/Ho_Chi_Minh", "lo": "Asia/Vientiane", "en": "Asia/Ho_Chi_Minh"}
# CLDR's vi short datetime puts the time first with a two-digit year; choose our own.
DATETIME_PATTERNS = {
    "vi": "dd/MM/yyyy HH:mm (zzzz)",
    "lo": "d/M/yyyy HH:mm (zzzz)",
    "en": "d MMM yyyy HH:mm (zzzz)",
}
DATE_PATTERNS = {"vi": "dd/MM/yyyy", "lo": "d/M/yyyy", "en": "d MMM yyyy"}


def translations_source() -> Path:
    """translations/ at the repository top level, or packaged beside hub/ when installed."""
    for candidate in (PROJECT_ROOT / "translations", Path(__file__).parent / "translations"):
        if candidate.is_dir():
            return candidate
    return PROJECT_ROOT / "translations"


def compile_catalogs(source: Path, target: Path) -> list[str]:
    """Compile every .po under `source` into .mo files under `target`; return the locales.

    Done at start-up so an installed hub needs no manual compile step.
    """
    found = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        locale = po_path.parent.parent.name
        mo_path = target / locale / "LC_MESSAGES" / "messages.mo"
        if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
            tmp = mo_path.with_suffix(".tmp")
            with tmp.open("wb") as handle:
                write_mo(handle, catalog)
            tmp.replace(mo_path)
        found.append(locale)
    return found


def _supported(value: object) -> str | None:
    """`value` if it names a language we have a catalog for (any case, any region), else None."""
    if not isinstance(value, str):
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LOCALES else None


def _from_accept_language() -> str | None:
    """The best language of the browser's Accept-Language; a broken header counts as none.

    A bare `*` says nothing about the reader, so it falls through to the organisation.
    """
    try:
        offered = [(value, quality) for value, quality in request.accept_languages if quality > 0]
    except Exception:  # a header werkzeug cannot parse is the browser's fault, not a 500
        return None
    for value, _quality in sorted(offered, key=lambda pair: -pair[1]):
        chosen = _supported(value)
        if chosen:
            return chosen
    return None


def _from_environment() -> str:
    """Outside a web request (the `hub` command): the shell's language, else English."""
    try:
        found = default_locale(("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"))
    except Exception:  # a malformed LANG must not stop a command
        found = None
    return _supported(found) or "en"


def select_locale() -> str:
    """The language of this request: preference, switcher cookie, Accept-Language, country.

    Every step ignores values we have no catalog for, so a stale preference, a
    hand-edited cookie or a garbled header lands on the next step, never on an error.
    """
    if not has_request_context():
        return _from_environment()
    user = getattr(g, "user", None)
    chosen = _supported(getattr(user, "language", None)) if user is not None else None
    chosen = chosen or _supported(request.cookies.get(LANG_COOKIE)) or _from_accept_language()
    if chosen:
        return chosen
    if user is not None:
        return COUNTRY_LANGUAGE.get(user.organisation.country, DEFAULT_LOCALE)
    return DEFAULT_LOCALE


def select_timezone() -> str:
    return ZONES.get(str(get_locale() or "vi"), "Asia/Ho_Chi_Minh")


def current_language() -> str:
    return str(get_locale() or "vi")


def show_datetime(value: datetime | None) -> str:
    """A stored UTC time, shown in UTC+7 in the reader's locale, with the zone named."""
    if value is None:
        return ""
    return format_datetime(value, DATETIME_PATTERNS.get(current_language(), "medium"))


def show_date(value: date | str | None) -> str:
    """A day in the reader's pattern; an ISO text (as sealed payloads keep dates) is read
    first, and one that is not a date is shown as it is rather than failing the page."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = date.fromisoformat(text)
        except ValueError:
            return text
    return format_date(value, DATE_PATTERNS.get(current_language(), "medium"))


# Dates typed into forms: day first, as officers on both sides write them (LANGUAGES.md),
# with a four-digit year; ISO is accepted too, so links and scripts keep working. The
# browser's own date inputs are not used: their format follows the browser's language.
INPUT_DATE_PATTERN = "dd/MM/yyyy"
INPUT_DATETIME_PATTERN = "dd/MM/yyyy HH:mm"
_DAY_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2})?")


def parse_input_date(text: str) -> date:
    """A typed day (``21/3/2025`` or ISO ``2025-03-21``); ValueError otherwise."""
    text = text.strip()
    if _ISO_DAY.fullmatch(text):
        return date.fromisoformat(text)
    found = _DAY_FIRST.fullmatch(text)
    if found is None:
        raise ValueError(text)
    day, month, year = (int(part) for part in found.groups())
    return date(year, month, day)


def parse_input_datetime(text: str) -> datetime:
    """A typed local time (``21/3/2025 14:05`` or ISO ``2025-03-21T14:05``), naive."""
    text = text.strip()
    day, _, clock = text.replace("T", " ", 1).partition(" ")
    found = _CLOCK.fullmatch(clock.strip())
    if found is None:
        raise ValueError(text)
    hour, minute = (int(part) for part in found.groups())
    return datetime.combine(parse_input_date(day), time(hour, minute))


def input_date(value: date | str | None) -> str:
    """A day as a form shows it for typing (an unparsable text is given back as it is)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = parse_input_date(text)
        except ValueError:
            return text
    return format_date(value, INPUT_DATE_PATTERN)


def input_datetime(value: datetime) -> str:
    """A naive local time as a form shows it for typing."""
    return f"{format_date(value.date(), INPUT_DATE_PATTERN)} {value:%H:%M}"


def show_country(code: str | None) -> str:
    """A country code (ISO 3166 alpha-2, as stored) as the reader's language names it
    (CLDR's territory names); "other" and free text entered through the API are shown
    as they are, translated when they are the form's "other"."""
    if not code:
        return ""
    if code == "other":
        from flask_babel import gettext

        return gettext("Other")
    names = Locale.parse(current_language()).territories
    return names.get(code.upper(), code) if len(code) == 2 else code


_SIZE_UNITS = (
    (10**9, "digital-gigabyte"),
    (10**6, "digital-megabyte"),
    (10**3, "digital-kilobyte"),
    (1, "digital-byte"),
)


def show_filesize(value: int | None) -> str:
    """A size in bytes in the reader's locale (replaces Jinja's English `filesizeformat`)."""
    if value is None:
        return ""
    size = max(int(value), 0)
    scale, unit = next(((s, u) for s, u in _SIZE_UNITS if size >= s), _SIZE_UNITS[-1])
    if unit == "digital-byte":
        # CLDR's vi and lo name it "byte" (English); B is the symbol, beside kB and MB.
        return f"{format_decimal(size, locale=current_language())} B"
    return format_unit(
        size / scale, unit, length="short", format="#,##0.#", locale=current_language()
    )


class CatalogMissing(RuntimeError):
    """A language the hub offers has no catalog: its pages would come out in English."""


#: The languages that must have a catalog (English is the source language).
TRANSLATED = ("vi", "lo")
_FORM_TRANSLATIONS = FormTranslations()


def _start_request() -> None:
    # Flask-Babel caches the locale on `g`, which outlives a request when an app context
    # is already pushed (tests, scripts): choose afresh for every request.
    refresh()
    # Flask-WTF looks here first for WTForms' own messages; WTForms ships no vi or lo,
    # so its messages come from our catalog, in the language chosen for this request.
    request.wtforms_translations = _FORM_TRANSLATIONS  # type: ignore[attr-defined]  # Flask-WTF's own hook


def init_app(app: Flask, babel: Babel) -> None:
    compiled = Path(app.instance_path) / "translations"
    found = compile_catalogs(translations_source(), compiled)
    missing = [locale for locale in TRANSLATED if locale not in found]
    if missing:
        raise CatalogMissing(
            f"no catalog for {', '.join(missing)} under {translations_source()}: "
            "reinstall the hub (the wheel carries hub/translations) or restore translations/"
        )
    app.config["HUB_LOCALES_COMPILED"] = found
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.before_request(_start_request)
    app.jinja_env.filters["dt"] = show_datetime
    app.jinja_env.filters["d"] = show_date
    app.jinja_env.filters["input_date"] = input_date
    app.jinja_env.filters["country"] = show_country
    app.jinja_env.filters["filesizeformat"] = show_filesize
    app.jinja_env.globals["current_language"] = current_language
