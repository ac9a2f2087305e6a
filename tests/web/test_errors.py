"""Error pages and API errors leak nothing: a generic translated message and a request id.

A failing route is added, here in the test only, to every registered blueprint;
each raises an exception whose text carries SQL, a file path and a secret.  The
answer, in Vietnamese and in Lao, must carry the generic message in that
language and the request id, and none of those.
"""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale, refresh
from flask_babel import gettext as _
from sqlalchemy import text

from hub.extensions import db

SECRET = "s3cr3t-MARKER-7f1c"
LEAKS = (
    SECRET,
    "Traceback",
    "SELECT",
    "password_hash",
    "/work/",
    "/tmp/",  # noqa: S108 - searched for in answers, never used as a path
    "site-packages",
    'File "',
    "x.py",
    "RuntimeError",
    "sqlite3",
    "psycopg",
)


def _explode():
    raise RuntimeError(
        f"SELECT password_hash FROM users WHERE token='{SECRET}' -- /work/main/hub/x.py"
    )


def _bad_sql():
    db.session.execute(text(f"SELECT password_hash FROM no_such_table_{SECRET.replace('-', '_')}"))


def _prefix(app, name: str) -> str:
    return (app.blueprints[name].url_prefix or "").rstrip("/")


@pytest.fixture
def failing_app(app):
    """Every blueprint gets /__test_boom (a Python error) and /__test_sql (a SQL error)."""
    names = sorted(app.blueprints)
    assert {"api", "auth", "home", "health"} <= set(names)
    for name in names:
        prefix = _prefix(app, name)
        app.add_url_rule(f"{prefix}/__test_boom", f"{name}.__test_boom", _explode)
        app.add_url_rule(f"{prefix}/__test_sql", f"{name}.__test_sql", _bad_sql)
    return app


def _expected(status: int, language: str) -> str:
    from hub.web.errors import messages as _messages

    with force_locale(language):
        return _messages()[status]


def _assert_clean(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} leaked into an error answer"


@pytest.mark.parametrize("language", ["vi", "lo"])
@pytest.mark.parametrize("kind", ["__test_boom", "__test_sql"])
def test_every_blueprint_fails_with_a_generic_translated_message(failing_app, language, kind):
    client = failing_app.test_client()
    checked = 0
    for name in sorted(failing_app.blueprints):
        path = f"{_prefix(failing_app, name)}/{kind}"
        response = client.get(path, headers={"Accept-Language": f"{language},en;q=0.5"})
        assert response.status_code in (500, 503), (path, response.status_code)
        request_id = response.headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{16}", request_id)
        body = response.get_data(as_text=True)
        _assert_clean(body)
        message = _expected(response.status_code, language)
        if path.startswith("/api/"):
            envelope = response.get_json()
            assert envelope["request_id"] == request_id
            assert envelope["errors"] == {"_request": [message]}
            assert envelope["code"] in ("internal_error", "unavailable")
        else:
            assert response.mimetype == "text/html"
            assert f'lang="{language}"' in body
            assert message in body
            assert request_id in body
        checked += 1
    assert checked == len(failing_app.blueprints)


def test_sql_error_is_500_not_unavailable(failing_app):
    """A bug in SQL is not "the database is busy": 500, and the next request works."""
    client = failing_app.test_client()
    assert client.get("/__test_sql", headers={"Accept-Language": "vi"}).status_code == 500
    assert client.get("/login").status_code == 200


def test_signed_in_user_sees_the_error_page_in_their_language(failing_app, make_user, browser):
    make_user("lo.officer", org="KM", role="officer", language="lo")
    browser.login("lo.officer")
    # Tests share one app context, so flask-babel's per-`g` locale cache outlives a
    # request here (it never does in production, where each request has its own).
    refresh()
    response = browser.client.get("/__test_boom", headers={"Accept-Language": "vi"})
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    _assert_clean(body)
    assert 'lang="lo"' in body
    assert _expected(500, "lo") in body
    assert response.headers["X-Request-Id"] in body


@pytest.mark.parametrize("language", ["vi", "lo"])
def test_http_errors_in_pages_and_api(client, api_token, make_user, language):
    headers = {"Accept-Language": language}
    # (The page echoes its own path into the language switcher's "next": that is the
    # caller's own input, not a leak, so the path here carries no marker.)
    page = client.get("/no-such-page", headers=headers)
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    _assert_clean(body)
    assert _expected(404, language) in body
    assert page.headers["X-Request-Id"] in body

    make_user("api.user", org="QB", role="officer", language=language)
    api = client.get(f"/api/v1/no-such-{SECRET}", headers={**headers, **api_token("api.user")})
    assert api.status_code == 404
    envelope = api.get_json()
    _assert_clean(api.get_data(as_text=True))
    assert envelope["request_id"] == api.headers["X-Request-Id"]
    assert envelope["errors"]["_request"] == [_expected(404, language)]


def test_error_page_survives_a_broken_template_context(failing_app, monkeypatch):
    """If the error page itself cannot render, a minimal page still gives message and id."""
    import hub.web.errors as errors

    def broken(*args, **kwargs):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(errors, "render_template", broken)
    response = failing_app.test_client().get("/__test_boom", headers={"Accept-Language": "lo"})
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    _assert_clean(body)
    assert _expected(500, "lo") in body
    assert response.headers["X-Request-Id"] in body


def test_messages_are_translated_in_the_catalogs(app):
    """The generic messages exist in vi and lo, so a user never sees English; an
    untranslated one is reported by name."""
    from hub.web.errors import messages as _messages

    with force_locale("en"):
        english = _messages()
    missing = []
    for language in ("vi", "lo"):
        with force_locale(language):
            translated = _messages()
            if _("Request id") == "Request id":
                missing.append((language, "Request id"))
        missing += [(language, english[s]) for s in english if translated[s] == english[s]]
    assert not missing, f"untranslated error-page messages: {missing}"


def test_one_envelope_and_one_code_table_for_every_api_error(client, api_token, make_user):
    """The API's own handlers and the pages' handlers (an /api/ path no route matched)
    answer with the same keys and the code of `CODES` for the status."""
    from hub.web.errors import CODES

    make_user("api.user", org="QB", role="officer")
    token = api_token("api.user")
    answers = {
        404: client.get("/api/v1/no-such-thing", headers=token),  # no route: the pages' handler
        405: client.delete("/api/v1/exchanges", headers=token),  # the API blueprint's
        401: client.get("/api/v1/exchanges"),  # no token
    }
    for status, answer in answers.items():
        assert answer.status_code == status
        envelope = answer.get_json()
        assert set(envelope) == {"errors", "code", "request_id"}, status
        assert envelope["code"] == CODES[status]
        assert envelope["request_id"] == answer.headers["X-Request-Id"]
    assert CODES[413] == "too_large"
