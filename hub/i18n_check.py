"""The catalog check: `python -m hub.i18n_check` (also run by tests/app/test_i18n.py).

Fails on anything that would put English, a broken sentence or Thai script in
front of an officer:

- a STALE template: the strings in the code differ from translations/messages.pot
  (it extracts afresh into a temporary file and compares);
- a catalog out of step with the template (a message missing from a .po);
- untranslated, fuzzy or obsolete entries;
- placeholders that differ between msgid and msgstr: %-style (Babel's own
  python-format checker, plus an exact comparison of names) and {brace} fields;
  with one plural form, the single msgstr must carry every placeholder of both
  the singular and the plural msgid;
- in the Lao catalog: Thai-script characters (U+0E00-U+0E7F), ໍ + າ written
  instead of the composed ຳ, or text that is not NFC.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message, TranslationError
from babel.messages.checkers import num_plurals, python_format
from babel.messages.pofile import read_po

from hub.i18n import TRANSLATED
from hub.i18n_library import placeholders as brace_fields

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
EXTRACT_ARGS = ("-F", "translations/babel.cfg", "--add-comments=Translators:", "-k", "_l")

_PERCENT = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifrxXoeEgGcu%]")
_THAI = re.compile("[\u0e00-\u0e7f]")
_LAO_AM_SPLIT = re.compile("\u0ecd[\u0ec8-\u0ecb]?\u0eb2")


@dataclass(frozen=True)
class Problem:
    where: str
    msgid: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: {self.msgid!r}"


def _key(message: Message) -> tuple:
    ident = message.id if isinstance(message.id, str) else tuple(message.id)
    return (ident, message.context)


def _first(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def extract(target: Path) -> Catalog:
    """Extract the code's strings into `target` with the documented pybabel command."""
    command = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract"]
    command += [*EXTRACT_ARGS, "-o", str(target), "."]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    return _read(target)


def stale_template(template: Path = TEMPLATE) -> list[Problem]:
    """Strings the code has and the template lacks, and the reverse."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = extract(Path(tmp) / "fresh.pot")
    committed = _read(template)
    fresh_keys = {_key(m): m for m in fresh if m.id}
    committed_keys = {_key(m): m for m in committed if m.id}
    problems = [
        Problem("messages.pot", _first(m), "in the code but not in the template (run extract)")
        for key, m in fresh_keys.items()
        if key not in committed_keys
    ]
    problems += [
        Problem("messages.pot", _first(m), "in the template but gone from the code (run extract)")
        for key, m in committed_keys.items()
        if key not in fresh_keys
    ]
    return problems


def _percent_names(text: str) -> list[str]:
    return sorted(
        m.group(1) or "<positional>" for m in _PERCENT.finditer(text) if m.group(0) != "%%"
    )


def _placeholder_problems(where: str, message: Message) -> list[Problem]:
    problems = []
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
    wanted_percent = sorted(set().union(*(_percent_names(i) for i in ids)))
    wanted_brace = set().union(*(brace_fields(i) for i in ids))
    for text in strings:
        if not text:
            continue
        percent_expected = "python-format" in message.flags or wanted_percent
        if percent_expected and sorted(set(_percent_names(text))) != wanted_percent:
            problems.append(Problem(where, _first(message), f"%-placeholders differ in {text!r}"))
        if brace_fields(text) != wanted_brace:
            problems.append(Problem(where, _first(message), f"{{}}-fields differ in {text!r}"))
    return problems


def check_catalog(locale: str, template: Catalog, root: Path = TRANSLATIONS) -> list[Problem]:
    """Everything wrong with one locale's catalog, measured against `template`."""
    path = root / locale / "LC_MESSAGES" / "messages.po"
    where = f"{locale}/messages.po"
    if not path.exists():
        return [Problem(where, "", "catalog missing")]
    catalog = _read(path, locale)
    problems: list[Problem] = []
    if catalog.num_plurals != 1:
        problems.append(Problem(where, "", f"expected nplurals=1, got {catalog.num_plurals}"))
    if catalog.obsolete:
        problems += [
            Problem(where, _first(m), "obsolete entry (#~): remove it")
            for m in catalog.obsolete.values()
        ]
    keys = {_key(m) for m in catalog if m.id}
    problems += [
        Problem(where, _first(m), "missing from the catalog (run update)")
        for m in template
        if m.id and _key(m) not in keys
    ]
    template_keys = {_key(m) for m in template if m.id}
    for message in catalog:
        if not message.id:
            continue
        msgid = _first(message)
        if _key(message) not in template_keys:
            problems.append(Problem(where, msgid, "not in the template (run update)"))
        if message.fuzzy:
            problems.append(Problem(where, msgid, "fuzzy"))
        strings = message.string if isinstance(message.string, list | tuple) else [message.string]
        if not all(strings):
            problems.append(Problem(where, msgid, "untranslated"))
            continue
        for checker in (num_plurals, python_format):
            try:
                checker(catalog, message)
            except TranslationError as exc:
                problems.append(Problem(where, msgid, f"Babel checker: {exc}"))
        problems += _placeholder_problems(where, message)
        for text in [s for s in strings if s]:  # all of them (checked above)
            if unicodedata.normalize("NFC", text) != text:
                problems.append(Problem(where, msgid, "translation is not NFC"))
            if locale == "lo":
                if _THAI.search(text):
                    problems.append(Problem(where, msgid, f"Thai script in Lao: {text!r}"))
                if _LAO_AM_SPLIT.search(text):
                    problems.append(Problem(where, msgid, "ໍ + າ instead of the composed ຳ"))
    return problems


_ENGLISH: dict[str, frozenset[str]] = {}


def clear_english_cache() -> None:
    """Forget the extracted strings (hub.caches.reset_all with ``code=True``)."""
    _ENGLISH.clear()


def english_source_strings(locale: str) -> frozenset[str]:
    """The code's English strings (freshly extracted, so ones not in the catalog yet count)
    that `locale` renders differently: any of them on a `locale` page is an English leak.

    Strings with placeholders are left out (they never appear verbatim), and so are
    ones the catalog keeps as they are ("kg", "Ketamine").
    """
    if locale not in _ENGLISH:
        with tempfile.TemporaryDirectory() as tmp:
            code = extract(Path(tmp) / "fresh.pot")
        path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
        kept = {m.id for m in _read(path, locale) if m.id and m.string == m.id}
        plain = (m.id for m in code if isinstance(m.id, str) and m.id and m.id not in kept)
        _ENGLISH[locale] = frozenset(
            text.strip() for text in plain if not re.search(r"%\(|\{", text)
        )
    return _ENGLISH[locale]


def check_all(*, include_stale: bool = True) -> list[Problem]:
    template = _read(TEMPLATE) if TEMPLATE.exists() else None
    if template is None:
        return [Problem("messages.pot", "", "template missing (run extract)")]
    problems = stale_template() if include_stale else []
    for locale in TRANSLATED:
        problems += check_catalog(locale, template)
    return problems


def main() -> int:
    problems = check_all()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} catalog problem(s); see README ('Translations').")
        return 1
    print(f"catalogs complete: {', '.join(TRANSLATED)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
