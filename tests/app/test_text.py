"""hub.text: clean text, search keys, digits, strict quantities (no app needed but for ngettext)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest

from hub.text import (
    QuantityError,
    clean,
    fold,
    format_quantity,
    has_thai_script,
    normalise_digits,
    parse_quantity,
)

NFD = "NFD"
AM = "\u0eb3"  # ຳ
NIGGAHITA_AA = "\u0ecd\u0eb2"  # ໍ + າ
MAI_EK = "\u0ec8"  # ່


def test_clean_composes_nfc_and_drops_zero_width():
    typed = unicodedata.normalize(NFD, "Quảng Bình")
    assert typed != "Quảng Bình"
    assert clean(typed) == "Quảng Bình"
    assert clean("Kham\u200bmouane\u200c\u200d\ufeff\u2060") == "Khammouane"
    # A zero-width character between a letter and its accent must not block composition.
    assert clean("a\u200b\u0301") == "á"


def test_clean_never_applies_nfkc_to_lao():
    # NFKC would rewrite ຳ, ໜ and ໝ; clean keeps them as typed.
    for word in ("ຄຳມ່ວນ", "ໜອງ", "ໝາກ"):
        assert clean(word) == word
    assert unicodedata.normalize("NFKC", "ຄຳ") != "ຄຳ"  # the reason for the rule


def test_fold_vietnamese_accents_case_and_normal_forms():
    assert fold("Quang Binh") == fold("Quảng Bình")
    assert fold("quang binh") == fold(unicodedata.normalize(NFD, "QUẢNG BÌNH"))
    assert fold("Đồng Hới") == fold("dong hoi") == "dong hoi"
    assert fold("đ") == "d"
    assert fold("Đ") == "d"
    # The two valid tone placements fold alike.
    assert fold("hoà") == fold("hòa")
    assert fold("Quang Tri") != fold("Quảng Bình")


def test_fold_lao_am_both_spellings_and_keeps_letters():
    composed = "ຄ" + AM + "ມ່ວນ"
    decomposed = "ຄ" + NIGGAHITA_AA + "ມ່ວນ"
    assert composed != decomposed
    assert unicodedata.normalize("NFC", decomposed) != composed  # NFC does not unify them
    assert fold(composed) == fold(decomposed) == composed
    # A tone mark typed between ໍ and າ, or before them, lands before ຳ.
    canonical = "ກ" + MAI_EK + AM
    assert fold("ກ" + MAI_EK + NIGGAHITA_AA) == canonical
    assert fold("ກ\u0ecd" + MAI_EK + "\u0eb2") == canonical
    # Lao vowels and tone marks are combining marks, but letters: never stripped.
    for word in ("ສະຫວັນນະເຂດ", "ແຂວງ", "ເມືອງ", "ບ້ານ", "ຫີນບູນ"):
        assert fold(word) == word
    assert fold("ບ້ານ") != fold("ບານ")


def test_fold_is_idempotent_and_a_substring_search_works():
    title = "Vụ vận chuyển ma tuý qua cửa khẩu Cha Lo, Quảng Bình"
    assert fold(fold(title)) == fold(title)
    assert fold("cua khau cha lo") in fold(title)
    assert fold("ma tuy") in fold(title)


def test_normalise_digits():
    assert normalise_digits("໐໑໒໓໔໕໖໗໘໙") == "0123456789"
    assert normalise_digits("๑๒") == "12"  # Thai
    assert normalise_digits("٣,٥") == "3,5"  # Arabic-Indic
    assert normalise_digits("１２") == "12"  # full-width
    assert normalise_digits("ບ້ານ 12, kg") == "ບ້ານ 12, kg"
    # Superscripts are digits but not decimal digits: left alone.
    assert normalise_digits("²") == "²"


@pytest.mark.parametrize(
    ("locale", "typed", "expected"),
    [
        ("vi", "2,5", Decimal("2.5")),
        ("vi", " 2,5 ", Decimal("2.5")),
        ("vi", "1.234,5", Decimal("1234.5")),
        ("vi", "1.000.000", Decimal("1000000")),
        ("vi", "0,001", Decimal("0.001")),
        ("vi", "25", Decimal("25")),
        ("lo", "2,5", Decimal("2.5")),
        ("lo", "໒,໕", Decimal("2.5")),
        ("lo", "໑.໒໓໔,໕", Decimal("1234.5")),
        ("en", "2.5", Decimal("2.5")),
        ("en", "1,234.5", Decimal("1234.5")),
        ("en", "12.50", Decimal("12.50")),
    ],
)
def test_parse_quantity_accepts(locale, typed, expected):
    assert parse_quantity(typed, locale) == expected


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("vi", "2.5"),  # a lenient parse makes this 25
        ("lo", "2.5"),
        ("vi", "12.50"),
        ("vi", "1,234.5"),
        ("vi", "1.2.3"),
        ("en", "2,5"),
        ("en", "1.234,5"),
        ("vi", ""),
        ("vi", "   "),
        ("vi", "abc"),
        ("vi", "2 5"),
        ("vi", "1e3"),
        ("en", "NaN"),
        ("en", "Infinity"),
        ("vi", "2,5kg"),
    ],
)
def test_parse_quantity_refuses(locale, typed):
    with pytest.raises(QuantityError) as info:
        parse_quantity(typed, locale)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


def test_parse_quantity_reason_names_the_locale_separators(app):
    with pytest.raises(QuantityError) as info:
        parse_quantity("2.5", "vi")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        message = str(info.value.message)
    assert "“,”" in message
    assert "25" not in message  # never suggest the misreading


def test_format_quantity(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        _format_quantity_cases()


def _format_quantity_cases():
    assert format_quantity(Decimal("2.500"), "kg", "vi") == "2,5 kg"
    assert format_quantity(Decimal("1234.500"), "g", "vi") == "1.234,5 g"
    assert format_quantity(Decimal("100.000"), "kg", "en") == "100 kg"
    assert format_quantity(Decimal("1200"), "tablets", "en") == "1,200 tablets"
    assert format_quantity(Decimal("1"), "tablets", "en") == "1 tablet"
    assert format_quantity(Decimal("0.001"), "kg", "lo") == "0,001 kg"


def test_format_then_parse_round_trips():
    for locale in ("vi", "lo", "en"):
        for value in (Decimal("2.5"), Decimal("1234567.891"), Decimal("0.001"), Decimal("40000")):
            from babel.numbers import format_decimal

            shown = format_decimal(value, locale=locale, decimal_quantization=False)
            assert parse_quantity(shown, locale) == value


def test_has_thai_script():
    assert has_thai_script("ขอนแก่น")  # Thai
    assert has_thai_script("ຄຳມ່ວນ ก")
    assert not has_thai_script("ຄຳມ່ວນ")  # Lao
    assert not has_thai_script("Quảng Bình")
    assert not has_thai_script("")
