"""The file fields speak the page's language, not the browser's.

Chromium's own file button says "Choose Files" / "No file chosen" in the browser's
language. The hub's file fields (_form.html `file_field`) keep the real input,
visually hidden but focusable and named, behind a label styled as a button in the
page's language; static/js/file-field.js shows the chosen names. Without JavaScript
the button still opens the dialog and the files are still sent.
"""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from hub.extensions import db
from tests.conftest import PASSWORD

PDF = {
    "name": "bien-ban.pdf",
    "mimeType": "application/pdf",
    "buffer": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
}


def _log_in(visit, username: str) -> None:
    """Signed in, the user's saved language decides, whatever the browser asks for."""
    visit.goto("/login")
    visit.page.fill("#username", username)
    visit.page.fill("#password", PASSWORD)
    visit.page.click("main form button[type=submit]")
    visit.page.wait_for_load_state("load")


def _fill_request(page, subject: str) -> None:
    page.select_option("#agreement", "QB-KM-MOU")
    page.select_option("#recipient", "KM")
    page.select_option("#kind", "request")
    page.fill("#subject", subject)
    page.fill("#body", "Đề nghị xác minh.")


def _attachments(subject: str) -> int:
    from hub.models import Exchange

    exchange = db.session.scalar(db.select(Exchange).filter_by(subject=subject))
    assert exchange is not None, f"{subject!r} was not recorded"
    count = len(exchange.attachments)
    db.session.commit()
    db.session.remove()
    return count


def _chooser_from_keyboard(page):
    """Space on the focused input opens the dialog. On a loaded machine Chromium can
    drop a key press that comes while the previous dialog is still closing, so the
    press is tried three times; a button that never opens one still fails."""
    for attempt in range(3):
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
            return chooser.value
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.focus("#attachments")
    raise AssertionError("unreachable")


def test_the_file_button_is_in_vietnamese_and_names_the_chosen_file(hub_page, demo_users):
    # The browser itself asks for English: its own button would say "Choose Files".
    visit = hub_page("en-US", who="qb.officer")
    page = visit.page
    _log_in(visit, "qb.officer")
    visit.goto("/exchanges/new")
    visit.check("exchange-new", "vi")

    button = page.locator("label.file-button[for=attachments]")
    assert button.inner_text() == "Chọn tệp"
    assert page.inner_text("#attachments-chosen") == "Chưa chọn tệp"
    box = page.locator("#attachments").bounding_box()
    assert box is not None  # hidden, not removed
    assert box["width"] <= 1
    assert box["height"] <= 1
    # Named by the field's label and the button, so a screen reader says both.
    assert page.get_by_label("Tệp đính kèm").count() == 1
    assert page.get_by_label("Chọn tệp").get_attribute("id") == "attachments"

    with page.expect_file_chooser() as chooser:
        button.click()
    assert chooser.value.is_multiple()
    chooser.value.set_files([PDF, {**PDF, "name": "anh.png", "mimeType": "image/png"}])
    assert page.inner_text("#attachments-chosen") == "bien-ban.pdf, anh.png"

    # The keyboard reaches the hidden input, and its focus shows on the button.
    page.focus("#body")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "attachments"
    outline = button.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    _chooser_from_keyboard(page).set_files([PDF])  # and opens the dialog from the keyboard
    assert page.inner_text("#attachments-chosen") == "bien-ban.pdf"
    visit.check("exchange-new-chosen", "vi")


def test_the_file_button_in_lao(hub_page, demo_users):
    visit = hub_page("en-US", who="km.officer")
    _log_in(visit, "km.officer")
    visit.goto("/packages/import")
    visit.check("package-import", "lo")
    assert visit.page.inner_text("label.file-button[for=file]") == "ເລືອກໄຟລ໌"
    assert visit.page.inner_text("#file-chosen") == "ຍັງບໍ່ໄດ້ເລືອກໄຟລ໌"


def test_files_are_sent_without_javascript(hub_page, demo_users):
    visit = hub_page("vi-VN", who="qb.officer-nojs", javascript=False)
    page = visit.page
    _log_in(visit, "qb.officer")
    visit.goto("/exchanges/new")
    # No script: no status line, but the translated button and the input are there.
    assert page.inner_text("#attachments-chosen") == ""
    assert page.inner_text("label.file-button[for=attachments]") == "Chọn tệp"
    with page.expect_file_chooser() as chooser:
        page.click("label.file-button[for=attachments]")
    chooser.value.set_files([PDF])
    subject = "Không cần JavaScript để gửi tệp"
    _fill_request(page, subject)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.inner_text("h1") == subject
    assert _attachments(subject) == 1
