"""Text hygiene, search keys and locale-strict quantities for Vietnamese, Lao and English.

Facts behind these rules are in ../shared/LANGUAGES.md: text is stored NFC
without zero-width characters; search keys fold Vietnamese accents and the two
Lao spellings of ຳ; NFKC is never applied (it rewrites Lao ຳ, ໜ, ໝ); and typed
quantities are parsed strictly, because in vi and lo a lenient parse turns
"2.5" into 25.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from babel.numbers import (
    NumberFormatError,
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

# Zero-width space, non-joiner, joiner, BOM / zero-width no-break space, word joiner.
_ZERO_WIDTH = re.compile("[\u200b-\u200d\ufeff\u2060]")
#: Bidirectional embedding, override and isolate controls (U+202A-202E, U+2066-2069):
#: Vietnamese, Lao and English never need them, and they make "inv\u202egpj.exe" show
#: as "invexe.jpg". Typed input holding one is refused (hub.operations.checks.text);
#: `clean` drops them from anything else it is given.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Lao NIGGAHITA (ໍ) + AA (າ) is the decomposed way of writing AM (ຳ); a tone mark
# may be typed between them, and belongs before the ຳ in the canonical spelling.
_LAO_AM = re.compile("\u0ecd([\u0ec8-\u0ecb]?)\u0eb2")
# Only the Latin combining diacritics are stripped when folding: Lao vowels and
# tone marks are combining marks too, and are letters of the word, not accents.
_LATIN_MARKS = re.compile("[\u0300-\u036f]")
_THAI = re.compile("[\u0e00-\u0e7f]")


def clean(text: str) -> str:
    """What every stored text field holds: zero-width and bidirectional controls removed,
    then NFC.

    Zero-width characters go first so that one hidden between a letter and its
    accent cannot stop the two from composing.
    """
    return unicodedata.normalize("NFC", BIDI_CONTROLS.sub("", _ZERO_WIDTH.sub("", text)))


def fold(text: str) -> str:
    """The search key of `text`: equal for spellings a reader takes to be the same.

    `Quang Binh` and `Quảng Bình` (NFC or NFD), `đ` and `d`, and Lao `ຳ` and
    `ໍ` + `າ` all fold alike; Lao consonants, vowels and tone marks are kept.
    """
    key = clean(text).casefold()
    key = _LAO_AM.sub("\\1\u0eb3", key)
    key = _LATIN_MARKS.sub("", unicodedata.normalize("NFD", key))
    key = key.replace("đ", "d")
    return unicodedata.normalize("NFC", key)


def normalise_digits(text: str) -> str:
    """Every Unicode decimal digit (Lao ໐–໙, Thai, Arabic-Indic, full-width...) as ASCII.

    Python's int() accepts Lao digits silently while Babel does not; normalising
    first makes every parser see the same thing.
    """
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )


def has_thai_script(text: str) -> bool:
    """Whether `text` holds Thai code points: in a Lao field that is a mistake to flag."""
    return bool(_THAI.search(text))


class QuantityError(ValueError):
    """A typed quantity refused; `message` is a lazy, translatable reason for the user."""

    def __init__(self, message: object) -> None:
        # Kept lazy: str(error) translates in whatever locale is current when shown.
        super().__init__(message)
        self.message = message


def parse_quantity(text: str, locale: str) -> Decimal:
    """Parse a typed quantity strictly in `locale`; raise QuantityError with the reason.

    In vi and lo "2,5" is two and a half and "2.5" is refused (a lenient parse
    would make it 25); in en it is the other way round.  Group separators must
    sit where the locale puts them.  Exponents, NaN and infinities are refused.
    The caller still shows the parsed value back before saving: "1.234" in vi
    is one thousand two hundred and thirty-four, which a typist may not mean.
    """
    typed = normalise_digits(clean(text)).strip()
    if not typed:
        raise QuantityError(_l("Enter a quantity."))
    if any(ch in typed for ch in "eE") or not any(ch.isdigit() for ch in typed):
        raise QuantityError(
            _l("Enter the quantity as digits, e.g. %(example)s.", example=_example(locale))
        )
    try:
        value = parse_decimal(typed, locale=locale, strict=True)
    except NumberFormatError as exc:
        # Babel's own message suggests a reading ("Did you mean '25'?") that is
        # exactly the misreading we refuse; give the locale's rule instead.
        raise QuantityError(
            _l(
                "“%(typed)s” is not a number as written in this language: the decimal"
                " separator is “%(decimal)s” and thousands are grouped with “%(group)s”,"
                " e.g. %(example)s.",
                typed=typed,
                decimal=get_decimal_symbol(locale),
                group=get_group_symbol(locale),
                example=_example(locale),
            )
        ) from exc
    except InvalidOperation as exc:  # pragma: no cover - Babel wraps these, but be sure
        raise QuantityError(_l("Enter the quantity as digits.")) from exc
    if not value.is_finite():
        raise QuantityError(_l("Enter the quantity as digits."))
    return value


def _example(locale: str) -> str:
    return format_decimal(Decimal("1234.5"), locale=locale)


# Translators: units of a drug seizure's quantity.
UNIT_LABELS = {"kg": _l("kg"), "g": _l("g")}


def format_quantity(value: Decimal, unit: str, locale: str) -> str:
    """`value` with its unit for `locale`, e.g. "2,5 kg" (vi) or "1,200 tablets" (en).

    Every significant digit is kept (no rounding), trailing zeros of the stored
    NUMERIC(18,3) are not shown.
    """
    shown = value.normalize()
    exponent = shown.as_tuple().exponent  # a letter only for NaN and infinity, never stored
    if isinstance(exponent, int) and exponent > 0:  # normalize() writes 100 as 1E+2
        shown = shown.quantize(Decimal(1))
    number = format_decimal(shown, locale=locale, decimal_quantization=False)
    if unit == "tablets":
        count = int(value) if value == value.to_integral_value() else 2
        return ngettext("%(quantity)s tablet", "%(quantity)s tablets", count, quantity=number)
    label = UNIT_LABELS.get(unit)
    return f"{number} {label if label is not None else unit}"
