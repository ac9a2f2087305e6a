"""The hub runs: configuration, migrations, init, demo accounts, login, scoping."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, inspect, select

from hub.config import ConfigError, Settings
from hub.extensions import db
from hub.models import Agreement, Organisation, User


def test_production_refuses_missing_or_demo_secret(tmp_path):
    base = {"env": "production", "instance_path": str(tmp_path)}
    with pytest.raises(ConfigError, match="HUB_SECRET_KEY"):
        Settings.from_env(base)
    with pytest.raises(ConfigError, match="HUB_SECRET_KEY"):
        Settings.from_env({**base, "secret_key": "demo-secret-demo-secret-demo-secret-00"})
    base["secret_key"] = "x7Qp2vN9rT4mK8sW1zY6bH3jL5cF0dG2aE9"
    with pytest.raises(ConfigError, match="HUB_KEY_PASSPHRASE"):
        Settings.from_env(base)
    with pytest.raises(ConfigError, match="demo value"):
        Settings.from_env({**base, "key_passphrase": "demo passphrase"})
    ok = Settings.from_env({**base, "key_passphrase": "wB4 kayak lantern 91 pepper"})
    assert ok.production


def test_embedded_default_generates_and_keeps_a_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("HUB_SECRET_KEY", raising=False)
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    first = Settings.from_env({"instance_path": str(tmp_path)})
    second = Settings.from_env({"instance_path": str(tmp_path)})
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'hub.sqlite3'}"


def test_bad_database_url_is_named(tmp_path):
    with pytest.raises(ConfigError, match="HUB_DATABASE_URL"):
        Settings.from_env({"instance_path": str(tmp_path), "database_url": "mysql://x"})


def _hub(tmp_path, *args, **env):
    import os

    environment = {
        **os.environ,
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "HUB_KEYS_DIR": str(tmp_path / "keys"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    result = _hub(tmp_path, "init", HUB_ENV="production", HUB_SECRET_KEY="")
    assert result.returncode != 0
    assert "HUB_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    result = _hub(tmp_path, "init", HUB_DATABASE_URL="sqlite:////nonexistent/dir/hub.db")
    assert result.returncode != 0
    assert "HUB_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrations_reach_head_with_every_model_table(app):
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_init_twice_keeps_every_row(app, make_user):
    from hub.cli.setup import initialise

    make_user("someone", org="KM")
    agreement = db.session.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
    agreement.title_en = "Edited by an administrator"
    db.session.commit()
    before = {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
        for m in (Organisation, Agreement, User)
    }
    db.session.commit()  # end the read transaction: init uses its own connection
    added = initialise()
    assert added == {"organisations": 0, "places": 0, "agreements": 0}
    after = {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
        for m in (Organisation, Agreement, User)
    }
    assert before == after
    assert db.session.get(Agreement, agreement.id).title_en == "Edited by an administrator"


def test_init_refuses_a_newer_schema(app):
    from sqlalchemy import text

    from hub.cli.setup import initialise
    from hub.database import SchemaError

    db.session.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    db.session.commit()
    db.session.close()
    with pytest.raises(SchemaError, match="newer"):
        initialise()


def test_reference_data_has_fixed_codes_and_names_of_their_time(app):
    from datetime import date

    codes = set(db.session.scalars(select(Agreement.code)))
    assert codes == {
        "QB-KM-MOU",
        "QB-SV-MOU",
        "VN-LA-BILATERAL",
        "UN-1988",
        "MEKONG-MOU-1993",
        "PLAN-42-2023",
    }
    mou = db.session.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
    assert mou.is_sample
    assert {(o.kind, tuple(sorted(o.params.items()))) for o in mou.obligations} >= {
        ("response_time", (("days", 7), ("warning_days", 2))),
        ("acknowledge_time", (("hours", 48),)),
        ("meeting_interval", (("days", 90),)),
        ("periodic_report", (("days", 30),)),
    }
    qb = db.session.scalar(select(Organisation).where(Organisation.code == "QB"))
    assert "Quảng Bình" in qb.name_on(date(2024, 5, 1)).name_vi
    assert "Quảng Trị" in qb.name_on(date(2025, 8, 1)).name_vi
    km = db.session.scalar(select(Organisation).where(Organisation.code == "KM"))
    assert "ແຂວງຄຳມ່ວນ" in km.name_on().name_lo


def test_demo_accounts_log_in(client, browser, demo_users):
    for username in demo_users:
        response = browser.login(username)
        assert response.status_code == 302, username
        assert client.get("/").status_code == 200
        client.delete_cookie("hub_session")


def test_login_failures_look_alike_and_lock_out(client, browser, demo_users, app):
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    accounts.disable_user(SYSTEM, "sv.officer")
    pages = []
    for username, password in [
        ("qb.officer", "wrong password!"),
        ("nobody", "whatever"),
        ("sv.officer", None),
    ]:
        response = browser.login(username, password or "correct horse battery")
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        pages.append(page[page.index("<main") : page.index("</main>")].replace(username, ""))
    assert pages[0] == pages[1] == pages[2]

    limit = app.config["HUB"].login_max_failures
    for _ in range(limit - 1):
        assert browser.login("qb.officer", "still wrong!!").status_code == 401
    # Locked: even the right password is refused for a while.
    assert browser.login("qb.officer").status_code == 401


def test_csrf_is_required_on_login(client, demo_users):
    response = client.post("/login", data={"username": "qb.officer", "password": "x"})
    assert response.status_code == 400
    assert "hub_session" not in response.headers.get("Set-Cookie", "")


def test_disabling_a_user_ends_their_session(client, browser, demo_users):
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    browser.login("km.officer")
    assert client.get("/").status_code == 200
    accounts.disable_user(SYSTEM, "km.officer")
    assert client.get("/").status_code == 302


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_api_needs_a_live_bearer_token(client, demo_users, api_token):
    assert client.get("/api/v1/agreements").status_code == 401
    headers = api_token("km.officer")
    body = client.get("/api/v1/agreements", headers=headers).get_json()
    codes = {a["code"] for a in body["items"]}
    assert "QB-KM-MOU" in codes
    assert "QB-SV-MOU" not in codes
    assert client.get("/api/v1/agreements/QB-SV-MOU", headers=headers).status_code == 404
