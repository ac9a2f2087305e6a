"""The locale policy: which language a request is served in, and how times are shown.

Order: the user's saved preference, then the language chosen with the switcher
(remembered in a cookie), then the browser's Accept-Language, then the
organisation's country (vi for Viet Nam, lo for Laos).  Anything unknown falls
through quietly to the next step.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request
from flask_babel import Babel, format_date, format_datetime, get_locale

from hub.config import PROJECT_ROOT

LOCALES = ("vi", "lo", "en")
LANG_COOKIE = "hub_lang"
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


def select_locale() -> str:
    user = getattr(g, "user", None)
    if user is not None and user.language in LOCALES:
        return user.language
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    try:
        best = request.accept_languages.best_match(LOCALES)
    except Exception:
        best = None
    if best:
        return best
    if user is not None:
        return COUNTRY_LANGUAGE.get(user.organisation.country, "vi")
    return "vi"


def select_timezone() -> str:
    return ZONES.get(str(get_locale() or "vi"), "Asia/Ho_Chi_Minh")


def current_language() -> str:
    return str(get_locale() or "vi")


def show_datetime(value: datetime | None) -> str:
    """A stored UTC time, shown in UTC+7 in the reader's locale, with the zone named."""
    if value is None:
        return ""
    return format_datetime(value, DATETIME_PATTERNS.get(current_language(), "medium"))


def show_date(value: date | None) -> str:
    if value is None:
        return ""
    return format_date(value, DATE_PATTERNS.get(current_language(), "medium"))


def init_app(app: Flask, babel: Babel) -> None:
    compiled = Path(app.instance_path) / "translations"
    app.config["HUB_LOCALES_COMPILED"] = compile_catalogs(translations_source(), compiled)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["dt"] = show_datetime
    app.jinja_env.filters["d"] = show_date
    app.jinja_env.globals["current_language"] = current_language
