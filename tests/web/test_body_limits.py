"""Request-body limits per endpoint: a package may be far larger than one attachment.

The package import page allowed the importer's 200 MiB only after the CSRF check had
already read the form under the global limit (about 11 MiB), so a 12 MiB package got 413.
"""

from __future__ import annotations

import io

from hub.operations.packages import MAX_PACKAGE_BYTES


def _post_file(browser, path: str, size: int):
    token = browser.csrf(path)
    body = b"{" + b" " * (size - 2) + b"}"
    return browser.client.post(
        path,
        data={"csrf_token": token, "file": (io.BytesIO(body), "package.json")},
        content_type="multipart/form-data",
    )


def test_a_package_over_the_attachment_limit_reaches_the_importer(app, browser, demo_users):
    size = app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024
    assert size < MAX_PACKAGE_BYTES
    browser.login("qb.officer")
    answer = _post_file(browser, "/packages/import", size)
    # Not 413: the importer read it and refused it as a package (the form shown again).
    assert answer.status_code == 422
    assert "<form" in answer.get_data(as_text=True)


def test_other_forms_keep_the_global_limit(app, browser, demo_users):
    size = app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024
    browser.login("qb.officer")
    answer = _post_file(browser, "/cases/new", size)
    assert answer.status_code == 413
