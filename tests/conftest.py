"""Fixtures: a real database per test (SQLite file or PostgreSQL database), real commits.

Set HUB_TEST_DATABASE_URL to a postgresql+psycopg:// URL to run the suite on
PostgreSQL; each test then gets its own database cloned from a migrated template.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub import caches, create_app
from hub.app_keyring import set_cheap_kdf_for_tests
from hub.auth.passwords import set_cheap_parameters_for_tests
from hub.config import Settings

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
def template_database(tmp_path_factory, database_backend) -> Iterator[str]:
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
    yield url
    if database_backend == "postgresql":
        _pg_exec(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


class PgClones:
    """Clones of the template made ahead and dropped behind on one background thread.

    CREATE and DROP DATABASE take about half a second each here; done in line they
    doubled the PostgreSQL suite.  Each test still gets a database of its own.
    """

    AHEAD = 2

    def __init__(self, template_url: str):
        self.template = make_url(template_url)
        self.ready: queue.Queue = queue.Queue()
        self.work: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="pg-clones", daemon=True)
        self.thread.start()
        for _ in range(self.AHEAD):
            self.work.put(("create", None))

    def _run(self) -> None:
        engine = create_engine(
            _pg_admin_url(self.template.render_as_string(hide_password=False)),
            isolation_level="AUTOCOMMIT",
        )
        prefix = self.template.database[:-4]
        with engine.connect() as conn:
            while True:
                op, name = self.work.get()
                if op == "stop":
                    break
                try:
                    if op == "create":
                        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
                        conn.execute(
                            text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template.database}"')
                        )
                        self.ready.put(name)
                    elif op == "drop":
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                except Exception as exc:  # handed to the test waiting for a clone
                    if op == "create":
                        self.ready.put(exc)
        engine.dispose()

    def take(self) -> str:
        self.work.put(("create", None))  # the replacement for the one taken
        item = self.ready.get(timeout=300)
        if isinstance(item, Exception):
            raise item
        return self.template.set(database=item).render_as_string(hide_password=False)

    def give_back(self, url: str) -> None:
        self.work.put(("drop", make_url(url).database))

    def close(self) -> None:
        for _ in range(self.AHEAD):
            name = self.ready.get(timeout=300)
            if not isinstance(name, Exception):
                self.work.put(("drop", name))
        self.work.put(("stop", None))
        self.thread.join(timeout=300)


@pytest.fixture(scope="session")
def pg_clones(template_database, database_backend) -> Iterator[PgClones | None]:
    if database_backend != "postgresql":
        yield None
        return
    clones = PgClones(template_database)
    yield clones
    clones.close()


@pytest.fixture
def database_url(template_database, pg_clones, tmp_path) -> Iterator[str]:
    if pg_clones is None:
        source = Path(make_url(template_database).database)
        target = tmp_path / "hub.sqlite3"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
    url = pg_clones.take()
    try:
        yield url
    finally:
        pg_clones.give_back(url)


@pytest.fixture
def app(database_url, tmp_path):
    application = create_app(_settings(tmp_path, database_url))
    application.config.update(TESTING=True)
    with application.app_context():
        yield application
        from hub.extensions import db

        db.session.remove()
        db.engine.dispose()
    # Nothing one test cached (hub/caches.py lists it all) is seen by the next.
    caches.reset_all(application)


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


# --- builders: what tests send and open, every field they do not look at filled in ---

#: A plain request from QB to KM; a test overrides only the fields it is about.
EXCHANGE_DEFAULTS = dict(
    agreement="QB-KM-MOU",
    recipient="KM",
    kind="request",
    subject="Xác minh phương tiện",
    body="Nội dung",
    classification="restricted",
    reliability="B",
    credibility=2,
    handling="H0",
)


def new_exchange(**fields):
    """Builder: the `NewExchange` a face would hand to `exchanges.send`."""
    from hub.operations.exchanges import NewExchange

    return NewExchange(**{**EXCHANGE_DEFAULTS, **fields})


def make_exchange(actor, **fields):
    """Builder: an exchange sent by ``actor`` through `exchanges.send` (committed)."""
    from hub.operations import exchanges

    return exchanges.send(actor, new_exchange(**fields))


def make_case(actor, title: str = "Vụ Quảng Bình", *, seizures=(), suspects=(), **fields):
    """Builder: a case opened by ``actor`` through `cases.create_case` (committed)."""
    from hub.operations import cases

    data = cases.CaseInput(title=title, **fields)
    return cases.create_case(actor, data, seizures=seizures, suspects=suspects)


def compliance_row(kind, sent_at, *, sender="QB", recipient="KM", agreement="QB-KM-MOU", **fields):
    """Builder: an exchange's plaintext metadata only (no payload, no audit), as the
    compliance evaluation reads it; committed."""
    from sqlalchemy import select

    from hub.extensions import db
    from hub.models import Agreement, Exchange, Organisation

    orgs = {o.code: o.id for o in db.session.scalars(select(Organisation))}
    status = "answered" if fields.get("answered_at") else fields.pop("status", "sent")
    row = Exchange(
        agreement_id=db.session.scalar(select(Agreement.id).where(Agreement.code == agreement)),
        sender_id=orgs[sender],
        recipient_id=orgs[recipient],
        kind=kind,
        status=status,
        classification="confidential",
        handling="H2",
        reliability="B",
        credibility=2,
        subject="fixture",
        subject_key="fixture",
        sent_at=sent_at,
        **fields,
    )
    db.session.add(row)
    db.session.commit()
    return row


# Every log line of the whole run is checked for secrets when it ends
# (tests/support/log_capture.py).
from tests.support.log_capture import suite_logs_leak_nothing  # noqa: E402,F401
