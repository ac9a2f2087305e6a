"""The whole suite's logs, checked for secrets when the run ends.

conftest imports the session fixture below, so every log record that any test's
journeys produce — logins with conftest.PASSWORD, bearer tokens, session cookies,
failing routes — goes through the hub's own JSON formatter into one file.  At the
end of the run the file is searched: the shared test password, anything shaped
like a token or session cookie (43 URL-safe characters, as secrets.token_urlsafe(32)
makes them), and any line that is not one JSON object.  A hit fails the run.

The handler is a plain StreamHandler on purpose: hub.logging.install() replaces
only its own JsonLogHandler, so each new app leaves this capture in place.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from hub.logging import EscapeFilter, JsonFormatter

#: secrets.token_urlsafe(32): tokens, session cookies.
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def _looks_random(candidate: str) -> bool:
    # Identifiers in stack frames can be 43 characters long; random tokens mix cases
    # and digits.
    return (
        any(c.isupper() for c in candidate)
        and any(c.islower() for c in candidate)
        and any(c.isdigit() for c in candidate)
    )


def leaks(text: str, secrets: list[str]) -> list[str]:
    found = [f"secret {s[:4]}… in the logs" for s in secrets if s and s in text]
    found += [
        f"token-shaped value {m[:4]}… in the logs"
        for m in TOKEN_SHAPE.findall(text)
        if _looks_random(m)
    ]
    for number, line in enumerate(text.splitlines(), 1):
        try:
            if not isinstance(json.loads(line), dict):
                raise ValueError
        except ValueError:
            found.append(f"line {number} is not one JSON object")
            break
    return found


@pytest.fixture(scope="session", autouse=True)
def suite_logs_leak_nothing(tmp_path_factory):
    from tests.conftest import PASSWORD

    path = tmp_path_factory.mktemp("suite-logs") / "suite.log"
    stream = path.open("w", encoding="utf-8")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(EscapeFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        stream.close()
    problems = leaks(path.read_text(encoding="utf-8"), [PASSWORD])
    if problems:
        pytest.fail(f"the suite's logs ({path}) leak: " + "; ".join(problems[:5]))
