"""What every page must be, checked on the pages anyone can open: the login page."""

from __future__ import annotations

import pytest

HEADINGS = {"vi": "Đăng nhập", "lo": "ເຂົ້າສູ່ລະບົບ", "en": "Log in"}


@pytest.mark.parametrize("lang", ["vi", "lo", "en"])
def test_login_page_in_each_language(hub_page, lang):
    visit = hub_page({"vi": "vi-VN", "lo": "lo-LA", "en": "en-GB"}[lang])
    visit.goto("/login")
    visit.check(f"login-{lang}", lang)
    assert visit.page.inner_text("h1") == HEADINGS[lang]
    assert visit.page.title().startswith(HEADINGS[lang])


def test_lao_is_drawn_with_the_shipped_font_not_a_system_one(hub_page):
    """Noto Sans Lao comes from the hub (/static/fonts), and Chromium draws Lao with it,
    although this machine has system fonts with Lao glyphs (DejaVu Sans)."""
    visit = hub_page("lo-LA")
    visit.goto("/login")
    visit.check("login-lo", "lo")
    fonts = visit.rendering_fonts("h1")
    assert fonts, "no font reported for the heading"
    assert all(f["isCustomFont"] for f in fonts), fonts  # web fonts only, no system fallback
    assert any("Noto Sans Lao" in f["familyName"] for f in fonts), fonts
    loaded = visit.page.evaluate(
        "[...document.fonts].filter(f => f.status === 'loaded').map(f => f.unicodeRange)"
    )
    assert any("E80" in r.upper() for r in loaded), loaded
    fetched = [u for u in visit.requests if u.endswith(".woff2")]
    assert any(u.endswith("/static/fonts/NotoSansLao-Regular.woff2") for u in fetched), fetched

    # Lao labels must not be clipped: their box is at least as tall as the font needs.
    box = visit.page.evaluate(
        """() => { const h = document.querySelector('h1');
                   const s = getComputedStyle(h);
                   return {height: h.getBoundingClientRect().height,
                           size: parseFloat(s.fontSize), line: s.lineHeight,
                           transform: s.textTransform}; }"""
    )
    assert box["height"] >= 1.4 * box["size"], box
    assert box["transform"] == "none", box


def test_vietnamese_is_drawn_with_the_shipped_latin_font(hub_page):
    visit = hub_page("vi-VN")
    visit.goto("/login")
    visit.check("login-vi", "vi")
    fonts = visit.rendering_fonts("h1")
    assert fonts
    assert all(f["isCustomFont"] for f in fonts), fonts
    assert any(f["familyName"].startswith("Noto Sans") for f in fonts), fonts


def test_the_switcher_changes_the_language_and_remembers_it(hub_page):
    visit = hub_page("en-GB")
    visit.goto("/login")
    visit.check("before", "en")
    visit.page.select_option("#lang-select", "lo")
    visit.page.click("form.lang button[type=submit]")
    visit.check("after-switch", "lo")
    assert visit.page.inner_text("h1") == HEADINGS["lo"]
    visit.goto("/login")  # remembered, although the browser still asks for English
    visit.check("remembered", "lo")
    assert visit.page.inner_text("label[for=lang-select]") == "ພາສາ"


def test_unknown_pages_answer_in_the_language_too(hub_page):
    visit = hub_page("lo-LA")
    response = visit.goto("/no-such-page")
    assert response.status == 404
    visit.check("not-found", "lo")
    assert visit.page.inner_text("h1") == "ບໍ່ພົບ."
