"""GET /healthz: one word for anyone, the details for an administrator only."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from hub.crypto.keyring import KdfParams, Keyring


@pytest.fixture
def keys(app):
    """The hub's keys, made with a cheap Argon2 cost under the test passphrase."""
    settings = app.config["HUB"]
    Keyring(settings.keys_dir, kdf=KdfParams(64, 1, 1)).init(["QB"], settings.key_passphrase)
    return settings.keys_dir


@pytest.fixture
def catalogs(app):
    """Compiled vi and lo catalogs, whatever state translations/ is in."""
    compiled = Path(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    for code in ("vi", "lo"):
        target = compiled / code / "LC_MESSAGES" / "messages.mo"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                write_mo(handle, Catalog(locale=code))
    return compiled


def test_healthy_hub_says_ok_and_nothing_more(client, keys, catalogs):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_keys_fail_without_saying_why_to_anonymous(client, catalogs):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail"}


def test_missing_catalog_fails(app, client, keys, catalogs):
    (catalogs / "lo" / "LC_MESSAGES" / "messages.mo").unlink()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail"}


def _assert_details(response) -> None:
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "fail"
    checks = body["checks"]
    assert set(checks) == {"database", "schema", "keys", "catalogs"}
    assert checks["database"]["ok"]
    assert checks["schema"]["ok"]
    assert checks["keys"]["ok"]
    assert not checks["catalogs"]["ok"]
    assert "lo" in checks["catalogs"]["detail"]


def test_signed_in_admin_sees_each_check(client, browser, make_user, keys, catalogs):
    make_user("health.admin", role="admin")
    (catalogs / "lo" / "LC_MESSAGES" / "messages.mo").unlink()
    browser.login("health.admin")
    _assert_details(client.get("/healthz"))


def test_admin_token_sees_each_check(client, make_user, keys, catalogs, api_token):
    make_user("health.admin", role="admin")
    (catalogs / "lo" / "LC_MESSAGES" / "messages.mo").unlink()
    _assert_details(client.get("/healthz", headers=api_token("health.admin")))


def test_others_see_one_word(client, browser, make_user, keys, catalogs, api_token):
    make_user("health.officer", role="officer")
    (catalogs / "lo" / "LC_MESSAGES" / "messages.mo").unlink()
    for headers in (api_token("health.officer"), {"Authorization": "Bearer nonsense"}):
        assert client.get("/healthz", headers=headers).get_json() == {"status": "fail"}
    browser.login("health.officer")
    assert client.get("/healthz").get_json() == {"status": "fail"}


def test_unreachable_database_fails(app, client, keys, catalogs, database_backend):
    if database_backend != "sqlite":
        pytest.skip("breaks the SQLite file in place")
    from sqlalchemy.engine import make_url

    from hub.extensions import db

    db.session.remove()
    db.engine.dispose()
    path = Path(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database)
    path.write_bytes(b"this is not a database" * 512)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail"}
