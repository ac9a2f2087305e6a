"""Fixtures: a real database per test (SQLite file or PostgreSQL database), real commits.

Set HUB_TEST_DATABASE_URL to a postgresql+psycopg:// URL to run the suite on
PostgreSQL; each test then gets its own database cloned from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub import create_app
from hub.auth.passwords import set_cheap_parameters_for_tests
from hub.config import Settings
from hub.crypto.service import set_cheap_kdf_for_tests

PASSWORD = "correct horse battery"
PG_URL_ENV = "HUB_TEST_DATABASE_URL"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

set_cheap_parameters_for_tests()
set_cheap_kdf_for_tests()


def _pg_admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def _pg_exec(url: str, sql: str) -> None:
    engine = create_engine(_pg_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _settings(tmp: Path, database_url: str, **extra) -> Settings:
    return Settings.from_env(
        {
            "env": "development",
            "instance_path": str(tmp / "instance"),
            "database_url": database_url,
            "secret_key": "test-secret-key-not-for-production-use-0123456789",
            "keys_dir": str(tmp / "keys"),
            "key_passphrase": "test passphrase",
            **extra,
        }
    )


def _initialise(app) -> None:
    from hub.cli.setup import initialise

    with app.app_context():
        initialise()


@pytest.fixture(scope="session")
def database_backend() -> str:
    return "postgresql" if os.environ.get(PG_URL_ENV) else "sqlite"


@pytest.fixture(scope="session")
def template_database(tmp_path_factory, database_backend) -> str:
    """A database migrated to head with reference data, copied for each test."""
    tmp = tmp_path_factory.mktemp("template")
    if database_backend == "sqlite":
        url = f"sqlite:///{tmp / 'template.sqlite3'}"
    else:
        base = make_url(os.environ[PG_URL_ENV])
        name = f"{base.database}_tpl"
        _pg_exec(os.environ[PG_URL_ENV], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_exec(os.environ[PG_URL_ENV], f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
    app = create_app(_settings(tmp, url))
    _initialise(app)
    with app.app_context():
        from hub.extensions import db

        db.engine.dispose()
    return url


@pytest.fixture
def database_url(template_database, database_backend, tmp_path) -> Iterator[str]:
    if database_backend == "sqlite":
        source = Path(make_url(template_database).database)
        target = tmp_path / "hub.sqlite3"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
    template = make_url(template_database)
    name = f"{template.database[:-4]}_{uuid.uuid4().hex[:10]}"
    _pg_exec(template_database, f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
    try:
        yield template.set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_exec(template_database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app(database_url, tmp_path):
    application = create_app(_settings(tmp_path, database_url))
    application.config.update(TESTING=True)
    with application.app_context():
        yield application
        from hub.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Builder: make_user("qb.officer2", org="QB", role="officer") -> User."""
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    def build(username: str, *, org: str = "QB", role: str = "officer", language=None):
        return accounts.add_user(
            SYSTEM,
            username=username,
            password=PASSWORD,
            organisation_code=org,
            role=role,
            language=language,
        )

    return build


@pytest.fixture
def demo_users(make_user):
    """The demo accounts, each with PASSWORD."""
    from hub.cli.setup import DEMO_ACCOUNTS

    return {
        name: make_user(name, org=org, role=role, language=lang)
        for name, org, role, lang in DEMO_ACCOUNTS
    }


class Browser:
    """Log in and out through the real login form (CSRF included)."""

    def __init__(self, client):
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        import re

        page = self.client.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, username: str, password: str = PASSWORD):
        return self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": self.csrf()},
        )


@pytest.fixture
def browser(client) -> Browser:
    return Browser(client)


@pytest.fixture
def api_token(app):
    """Builder: api_token("km.officer") -> bearer headers for that user."""
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    def build(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {accounts.create_token(SYSTEM, username)}"}

    return build


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL server, for tests that need one whatever the suite's backend.

    Skipped with a plain reason when none answers, except in CI, where it fails.
    """
    url = os.environ.get(PG_URL_ENV) or os.environ.get("HUB_TEST_POSTGRES_URL", DEFAULT_PG)
    try:
        _pg_exec(url, "SELECT 1")
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {make_url(url).host}:{make_url(url).port} ({exc})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
        pytest.skip(f"{reason}; start PostgreSQL or set HUB_TEST_POSTGRES_URL")
    return url


# Every log line of the whole run is checked for secrets when it ends (tests/log_capture.py).
from log_capture import suite_logs_leak_nothing  # noqa: E402,F401
