"""A damaged SQLite file: one line naming it and what to do, from every verb and the
server's start; /healthz says fail.  And the database files are the hub's user's only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub.extensions import db

VERBS = [
    ["audit", "verify"],
    ["init"],
    ["user", "list"],
    ["token", "list", "qb.officer"],
    ["audit", "checkpoint", "--all"],
    ["serve", "--port", "1"],
]


@pytest.fixture
def sqlite_file(app, database_backend) -> Path:
    if database_backend != "sqlite":
        pytest.skip("a damaged file is SQLite's; PostgreSQL's unreachable server has its tests")
    return Path(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database)


def _damage(path: Path) -> None:
    """A flipped byte in the header: 'SQLite format 3' no longer opens it."""
    db.session.remove()
    db.engine.dispose()
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("verb", VERBS, ids=[" ".join(v) for v in VERBS])
def test_every_verb_names_the_damaged_file_in_one_line(app, sqlite_file, verb):
    _damage(sqlite_file)
    result = app.test_cli_runner().invoke(args=verb)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == (
        f"hub: the database file {sqlite_file} is not a database: stop the hub and "
        "restore the last backup with hub restore"
    ), result.output
    assert not any("Serving" in line for line in lines)


def test_the_line_is_in_the_operators_language(app, sqlite_file, monkeypatch):
    _damage(sqlite_file)
    monkeypatch.setenv("LANGUAGE", "vi")
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 2
    assert str(sqlite_file) in result.output
    assert "hub restore" in result.output


def test_healthz_says_fail_over_a_damaged_file(app, client, sqlite_file):
    _damage(sqlite_file)
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "fail"}


def test_the_database_and_its_wal_and_shm_are_private(app, sqlite_file):
    sqlite_file.chmod(0o644)
    db.session.remove()
    db.engine.dispose()
    db.session.execute(text("SELECT 1"))
    db.session.commit()
    for path in (sqlite_file, Path(f"{sqlite_file}-wal"), Path(f"{sqlite_file}-shm")):
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_new_database_is_private_from_its_first_connection(tmp_path):
    from hub import create_app
    from tests.conftest import _settings

    path = tmp_path / "new.sqlite3"
    app = create_app(_settings(tmp_path, f"sqlite:///{path}"))
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
        db.session.remove()
        db.engine.dispose()
