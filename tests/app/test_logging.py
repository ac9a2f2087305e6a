"""Logs leak nothing: run journeys with marked secrets, capture every log line, search.

The capture sits on the root logger at DEBUG, with SQLAlchemy's statement log on,
so a library logging a SQL parameter or a request line would be caught too.
"""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from hub.logging import ALLOWED_FIELDS, EscapeFilter, JsonLogHandler, escape
from tests.conftest import PASSWORD

MARK = uuid.uuid4().hex[:10]
MARKERS = {
    "wrong_password": f"pw-{MARK}-wrong",
    "username": f"user-{MARK}",
    "totp": "90" + MARK[:4].translate(str.maketrans("abcdef", "123456")),
    "body": f"body-{MARK}",
    "query": f"query-{MARK}",
    "suspect": f"Nguyen Van {MARK}",
    "header": f"header-{MARK}",
    "exception": f"exc-{MARK}",
}


@pytest.fixture
def captured(app):
    """Every log record from here on, as JSON lines in a buffer."""
    buffer = io.StringIO()
    handler = JsonLogHandler(buffer)
    handler.addFilter(EscapeFilter())
    root = logging.getLogger()
    engine_logger = logging.getLogger("sqlalchemy.engine")
    old = root.level, engine_logger.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    engine_logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old[0])
        engine_logger.setLevel(old[1])


def _lines(buffer: io.StringIO) -> list[dict]:
    text = buffer.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # each line is one JSON object


def _journeys(app, client, browser, api_token) -> dict[str, str]:
    """Walk the hub as users do; return the secrets that were in play."""
    secrets = {}
    # A failed login with a marked password, and one with CR/LF in the username.
    browser.login("qb.officer", MARKERS["wrong_password"])
    browser.login(f"{MARKERS['username']}\r\nFORGED-LINE {{}}", MARKERS["wrong_password"])
    client.post("/login/code", data={"code": MARKERS["totp"], "csrf_token": browser.csrf()})
    # A good login: the password and the session cookie are secrets now.
    assert browser.login("qb.officer").status_code == 302
    cookie = next(c for c in client._cookies.values() if c.key != "hub_lang")
    secrets["cookie"] = cookie.value
    secrets["password"] = PASSWORD
    for path in ("/", f"/cases/?q={MARKERS['query']}", "/exchanges/", "/account", "/healthz"):
        client.get(path, headers={"X-Custom": MARKERS["header"]})
    client.post("/language", data={"language": "lo", "csrf_token": browser.csrf("/")})
    client.post("/cases/new", data={"title": MARKERS["body"], "csrf_token": browser.csrf("/")})
    # The API with a bearer token, a query string and a JSON body with personal data.
    headers = api_token("qb.officer")
    secrets["token"] = headers["Authorization"].split()[1]
    client.get(f"/api/v1/cases?q={MARKERS['query']}", headers=headers)
    created = client.post(
        "/api/v1/cases",
        json={"title": MARKERS["body"], "summary": MARKERS["body"]},
        headers=headers,
    )
    if created.status_code == 201:
        case_id = created.get_json().get("id")
        client.post(
            f"/api/v1/cases/{case_id}/suspects",
            json={"full_name": MARKERS["suspect"], "name": MARKERS["suspect"]},
            headers=headers,
        )
    client.get("/api/v1/no-such-thing", headers=headers)
    client.get("/api/v1/cases", headers={"Authorization": f"Bearer {MARKERS['header']}"})
    # An unexpected error whose message holds a secret.
    client.get("/__test_log_boom")
    client.post("/logout", data={"csrf_token": browser.csrf("/")})
    return secrets


@pytest.fixture
def boom_app(app):
    def boom():
        raise RuntimeError(f"password={PASSWORD} {MARKERS['exception']}")

    app.add_url_rule("/__test_log_boom", "home.__test_log_boom", boom)
    return app


def test_journeys_leave_no_secret_in_the_logs(
    boom_app, client, browser, demo_users, api_token, captured
):
    secrets = _journeys(boom_app, client, browser, api_token)
    buffer = captured
    text = buffer.getvalue()
    lines = _lines(buffer)
    assert len(lines) > 20
    for name, value in {**MARKERS, **secrets}.items():
        assert value not in text, f"the {name} marker reached the logs"
    assert "FORGED-LINE" not in text

    requests = [line for line in lines if line["logger"] == "hub.request"]
    assert len(requests) >= 15
    for line in requests:
        assert set(line) <= {"time", "level", "logger", "event", *ALLOWED_FIELDS}
        assert "?" not in (line.get("route") or "")
    signed_in = [line for line in requests if line.get("user") == "qb.officer"]
    assert signed_in, "the request lines must name the signed-in user"
    assert all(line["organisation"] == "QB" for line in signed_in)
    assert all(len(line["request_id"]) == 16 for line in requests)
    assert {"status", "duration_ms", "endpoint", "method"} <= set(signed_in[0])

    errors = [
        line
        for line in lines
        if line["event"] == "unhandled error" and line.get("endpoint") == "home.__test_log_boom"
    ]
    assert len(errors) == 1
    assert errors[0]["exception"] == "builtins.RuntimeError"
    assert any("in boom" in frame for frame in errors[0]["frames"])


def test_allow_list_drops_unknown_fields_and_string_arguments(captured):
    log = logging.getLogger("hub.test")
    log.warning(
        "login for %s with %s",
        MARKERS["username"],
        MARKERS["wrong_password"],
        extra={"password": PASSWORD, "authorization": "Bearer x", "user": "qb.officer"},
    )
    log.info("kept %d of %d", 3, 4)
    first, second = _lines(captured)[-2:]
    assert first["event"] == "login for %s with %s"
    assert first["args_dropped"] == 2
    assert first["dropped"] == ["authorization", "password"]
    assert first["user"] == "qb.officer"
    assert PASSWORD not in captured.getvalue()
    assert MARKERS["username"] not in captured.getvalue()
    assert second["event"] == "kept 3 of 4"


def test_control_characters_are_escaped(captured):
    log = logging.getLogger("hub.test")
    log.info("line\r\nforged", extra={"target_id": "a\r\nb\x1b[31m\u2028c\\n", "user": "x\ty"})
    raw = captured.getvalue()
    assert raw.count("\n") == 1  # one record, one line
    line = _lines(captured)[-1]
    assert line["event"] == "line\\r\\nforged"
    assert line["target_id"] == "a\\r\\nb\\x1b[31m\\u2028c\\\\n"
    assert line["user"] == "x\\ty"
    assert escape("plain ກ ệ") == "plain ກ ệ"


def test_exceptions_are_logged_by_type_and_code_never_by_message(captured):
    log = logging.getLogger("hub.test")
    try:
        raise OSError(28, f"No space left writing {MARKERS['body']}")
    except OSError:
        log.exception("write failed")
    line = _lines(captured)[-1]
    assert line["exception"] == "builtins.OSError"
    assert line["error_code"] == "ENOSPC"
    assert MARKERS["body"] not in captured.getvalue()
    assert line["frames"]
    assert "test_logging.py" in line["frames"][-1]


def test_the_app_logs_json_on_stderr(app, capsys):
    app.test_client().get("/healthz")
    err = capsys.readouterr().err
    request_lines = [
        json.loads(line) for line in err.splitlines() if '"logger":"hub.request"' in line
    ]
    assert request_lines
    assert request_lines[-1]["endpoint"] == "health.healthz"


def test_a_bad_log_level_is_a_configuration_error(app):
    from hub.config import ConfigError
    from hub.logging import install

    with pytest.raises(ConfigError, match="HUB_LOG_LEVEL"):
        install("chatty")
    install(app.config["HUB"].log_level)


def test_the_suite_wide_checker_finds_leaks():
    from tests.support.log_capture import leaks

    clean = '{"event":"request","request_id":"0123456789abcdef"}\n'
    assert leaks(clean, [PASSWORD]) == []
    assert leaks(clean + f'{{"event":"{PASSWORD}"}}\n', [PASSWORD])
    token = "Ab3" + "x" * 40
    assert leaks(clean + f'{{"event":"{token}"}}\n', [])
    assert leaks(clean + "plain text line\n", [])
    frame = '{"frames":["test_every_blueprint_fails_with_a_generic_trans"]}\n'
    assert leaks(frame, []) == []
