"""Backup and restore, on SQLite and on PostgreSQL: round trips under load, and refusals.

Each test builds its own hubs (a source and a target) rather than using the `app`
fixture, because a restore needs two databases and, on PostgreSQL, its own.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from hub import backup, create_app
from hub.crypto.keyring import KdfParams, Keyring
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, Setting, User
from hub.operations import accounts, audit
from hub.operations.actor import SYSTEM
from tests.conftest import _pg_exec, _settings

AGREEMENT_LOG = "QB-KM-MOU"

# These tests make their own databases of both kinds (PostgreSQL through `postgres_url`),
# whatever the suite's backend: run them once, in the SQLite pass of CI.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("HUB_TEST_DATABASE_URL")),
    reason="backup tests make their own SQLite and PostgreSQL databases: run in the SQLite pass",
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@contextmanager
def hub_at(tmp_path: Path, url: str, name: str, *, init: bool = False):
    """An app on `url`, inside its app context."""
    app = create_app(_settings(tmp_path / f"inst-{name}", url))
    with app.app_context():
        if init:
            from hub.cli.setup import initialise

            initialise()
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def databases(backend, request, tmp_path_factory):
    """make(name, init=False) -> a new database URL of the module's backend: empty, or
    initialised (`hub init`, cloned from a template made once) with a hub id of its own.
    PostgreSQL databases are dropped when the module is done."""
    folder = tmp_path_factory.mktemp(f"dbs-{backend}")
    server = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    made: list[str] = []

    def new_url(name: str) -> str:
        if backend == "sqlite":
            (folder / name).mkdir()
            return f"sqlite:///{folder / name / 'hub.sqlite3'}"
        database = f"hub_bk_{name}_{uuid.uuid4().hex[:8]}"
        made.append(database)
        return make_url(server).set(database=database).render_as_string(hide_password=False)

    template = new_url("template")
    if backend == "postgresql":
        _pg_exec(server, f'CREATE DATABASE "{make_url(template).database}"')
    with hub_at(folder, template, "template", init=True):
        pass

    def make(name: str, *, init: bool = False) -> str:
        url = new_url(name)
        if backend == "sqlite":
            if init:
                shutil.copyfile(make_url(template).database, make_url(url).database)
        else:
            clone = f' TEMPLATE "{make_url(template).database}"' if init else ""
            _pg_exec(server, f'CREATE DATABASE "{make_url(url).database}"{clone}')
        if init:
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE settings SET value = :v WHERE key = :k"),
                    {"v": str(uuid.uuid4()), "k": backup.HUB_ID_KEY},
                )
            engine.dispose()
        return url

    yield make
    # Each DROP DATABASE waits for a checkpoint; run them side by side so those coalesce.
    drops = [
        threading.Thread(
            target=_pg_exec, args=(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        )
        for database in made
    ]
    for thread in drops:
        thread.start()
    for thread in drops:
        thread.join()


def write_work(count: int, start: int = 0) -> None:
    """Acknowledged writes: an audited change per iteration, committed."""
    for n in range(start, start + count):
        audit.record(
            "test.write", actor=SYSTEM, target_type="test", target_id=n, logs=[AGREEMENT_LOG]
        )
        db.session.commit()


def add_people(*names: str) -> None:
    for name in names:
        accounts.add_user(
            SYSTEM,
            username=name,
            password="a long enough pass",
            organisation_code="QB",
            role="officer",
        )


def heads() -> dict[str, tuple[int, str | None]]:
    return {
        log.name: (log.size, log.root.hex() if log.root else None)
        for log in db.session.scalars(select(AuditLog))
    }


def target_is_untouched(url: str) -> bool:
    """No tables at all (SQLite: no file, or an empty one)."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        if not path.exists() or path.stat().st_size == 0:
            return True
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                rows = conn.execute(text("SELECT name FROM sqlite_master")).all()
            else:
                rows = conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).all()
        return rows == []
    finally:
        engine.dispose()


def rebuild(source: Path, target: Path, *, manifest=None, member=None, rehash=True) -> None:
    """Copy a backup, editing its manifest (dict -> dict) and/or its database bytes."""
    with tarfile.open(source, "r:gz") as archive:
        first = archive.next()
        data_manifest = json.loads(archive.extractfile(first).read())
        second = archive.next()
        data = archive.extractfile(second).read()
    if member is not None:
        data = member(data)
        if rehash:
            import hashlib

            data_manifest["database"]["size"] = len(data)
            data_manifest["database"]["sha256"] = hashlib.sha256(data).hexdigest()
    if manifest is not None:
        data_manifest = manifest(data_manifest)
    with tarfile.open(target, "w:gz") as archive:
        for name, payload in (
            ("manifest.json", json.dumps(data_manifest).encode()),
            (second.name, data),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


@pytest.fixture(scope="module")
def source(tmp_path_factory, databases):
    """A hub with people and audited work, and its backup file (made once per backend)."""
    tmp = tmp_path_factory.mktemp("source")
    url = databases("src", init=True)
    with hub_at(tmp, url, "src") as app:
        add_people("bk.one", "bk.two")
        write_work(30)
        path = tmp / "hub-backup.tar.gz"
        manifest = backup.make_backup(app, path)
        expected = heads()
        hub_id = db.session.get(Setting, backup.HUB_ID_KEY).value
    return {"url": url, "file": path, "manifest": manifest, "heads": expected, "hub_id": hub_id}


@pytest.fixture(scope="module")
def empty_target(databases):
    """One empty database that every refusal is tried against: it must stay empty."""
    return databases("target")


def test_round_trip_under_load_restores_a_verifying_hub(tmp_path, databases, backend):
    url = databases("load", init=True)
    with hub_at(tmp_path, url, "load") as app:
        # The hub's own key, so checkpoints can be signed and must verify after the move.
        Keyring(app.config["HUB"].keys_dir, kdf=KdfParams(64, 1, 1)).init([], "test passphrase")
        add_people("load.officer")
        write_work(10)
        stop = threading.Event()
        written = []

        def writer():
            with app.app_context():
                n = 1000
                while not stop.is_set():
                    write_work(1, n)
                    written.append(n)
                    n += 1
                db.session.remove()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while len(written) < 5:
                stop.wait(0.01)
            manifest = backup.make_backup(app, tmp_path / "under-load.tar.gz")
        finally:
            stop.set()
            thread.join()
        assert len(written) >= 5
        final_size = heads()[AGREEMENT_LOG][0]

    backed_up = {log["name"]: (log["size"], log["root"]) for log in manifest["logs"]}
    assert backed_up[AGREEMENT_LOG][0] >= 10  # the snapshot holds what was written before
    assert manifest["schema_version"]
    assert manifest["hub_id"]
    assert manifest["backend"] == backend

    assert "_hub/sign-v1" in manifest["keys"]
    fresh = databases("fresh")
    with hub_at(tmp_path, fresh, "fresh") as app:
        # The "fresh machine": the key folder travels beside the backup, not in it.
        assert backup.missing_keys(app, manifest) == ["_hub/sign-v1"]
        shutil.copytree(tmp_path / "inst-load" / "keys", app.config["HUB"].keys_dir)
        assert backup.missing_keys(app, manifest) == []
        restored = backup.restore_backup(app, tmp_path / "under-load.tar.gz")
        assert restored == manifest
        assert heads() == backed_up  # every log's head equals the manifest's
        for name, (size, _root) in backed_up.items():
            log = db.session.scalar(select(AuditLog).where(AuditLog.name == name))
            count = db.session.scalar(select(func.count()).where(AuditEntry.log_id == log.id))
            assert count == size
        assert backup.verify_audit_logs() == []
        assert db.session.scalar(select(User.id).where(User.username == "load.officer"))
        # The snapshot was consistent: the log is exactly a prefix of what was written.
        assert backed_up[AGREEMENT_LOG][0] <= final_size
        if backend == "sqlite":
            assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_restore_into_a_non_empty_database_needs_force(tmp_path, databases, source):
    url = databases("same")
    with hub_at(tmp_path, url, "same") as app:
        backup.restore_backup(app, source["file"])
        add_people("after.backup")  # work done after the backup
        with pytest.raises(backup.BackupError, match="not empty"):
            backup.restore_backup(app, source["file"])
        assert db.session.scalar(select(User.id).where(User.username == "after.backup"))
        backup.restore_backup(app, source["file"], force=True)
        assert db.session.scalar(select(User.id).where(User.username == "after.backup")) is None
        assert db.session.scalar(select(User.id).where(User.username == "bk.one"))
        assert heads() == source["heads"]


def test_restore_over_a_freshly_initialised_database(tmp_path, databases, source):
    """`hub init` on the new machine first is harmless: reference data only is 'empty'."""
    url = databases("inited", init=True)
    with hub_at(tmp_path, url, "inited") as app:
        other_id = db.session.get(Setting, backup.HUB_ID_KEY).value
        assert other_id != source["hub_id"]
        backup.restore_backup(app, source["file"])
        assert db.session.get(Setting, backup.HUB_ID_KEY).value == source["hub_id"]
        assert heads() == source["heads"]


def test_backup_from_another_hub_is_refused_even_with_force(tmp_path, databases, source):
    url = databases("other", init=True)
    with hub_at(tmp_path, url, "other") as app:
        add_people("other.hub")
        before = heads()
        for force in (False, True):
            with pytest.raises(backup.BackupError, match="another hub"):
                backup.restore_backup(app, source["file"], force=force)
        assert heads() == before
        assert db.session.scalar(select(User.id).where(User.username == "other.hub"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "damaged or truncated"),
        ("flipped", "damaged or truncated"),
        ("not_a_backup", "damaged or truncated"),
        ("newer_schema", "newer database schema"),
        ("newer_format", "newer hub"),
        ("wrong_backend", "same kind of database"),
        ("heads_lie", "do not match its manifest"),
    ],
)
def test_bad_backups_are_refused_before_anything_is_touched(
    tmp_path, empty_target, source, backend, damage, message
):
    bad = tmp_path / f"{damage}.tar.gz"
    raw = source["file"].read_bytes()
    if damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":
        rebuild(
            source["file"],
            bad,
            member=lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:],
            rehash=False,
        )
    elif damage == "not_a_backup":
        bad.write_bytes(b"PK\x03\x04 this is a zip, not a backup" * 100)
    elif damage == "newer_schema":
        rebuild(source["file"], bad, manifest=lambda m: {**m, "schema_version": "9999_future"})
    elif damage == "newer_format":
        rebuild(source["file"], bad, manifest=lambda m: {**m, "version": 2})
    elif damage == "wrong_backend":
        other = "postgresql" if backend == "sqlite" else "sqlite"
        rebuild(source["file"], bad, manifest=lambda m: {**m, "backend": other})
    elif damage == "heads_lie":

        def grow(m):
            m["logs"] = [{**log, "size": log["size"] + 1} for log in m["logs"]]
            return m

        rebuild(source["file"], bad, manifest=grow)

    target = empty_target
    with (
        hub_at(tmp_path, target, "target") as app,
        pytest.raises(backup.BackupError, match=message),
    ):
        backup.restore_backup(app, bad)
    assert target_is_untouched(target)
    if backend == "sqlite":
        folder = Path(make_url(target).database).parent
        assert [p.name for p in folder.iterdir()] in ([], ["hub.sqlite3"])


def test_interrupted_restore_leaves_the_target_empty(
    tmp_path, databases, source, backend, monkeypatch
):
    """A dump cut off half-way (its hash made to match, so it gets as far as loading)."""
    bad = tmp_path / "half.tar.gz"
    rebuild(source["file"], bad, member=lambda d: d[: len(d) * 6 // 10])
    target = databases("half")
    with hub_at(tmp_path, target, "half") as app, pytest.raises(backup.BackupError):
        backup.restore_backup(app, bad)
    assert target_is_untouched(target)

    if backend == "sqlite":
        # Killed at the last step, just before the rename: the staged copy goes, the
        # target stays as it was.
        class Killed(BaseException):
            """Like a SIGINT: not an Exception, so nothing on the way may swallow it."""

        real_replace = backup.os.replace

        def killed(src, dst, *args, **kwargs):
            if ".restore-" in str(src):
                raise Killed
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(backup.os, "replace", killed)
        with hub_at(tmp_path, target, "half2") as app, pytest.raises(Killed):
            backup.restore_backup(app, source["file"])
        assert target_is_untouched(target)
        folder = Path(make_url(target).database).parent
        assert [p.name for p in folder.iterdir() if ".restore-" in p.name] == []


def test_cli_backup_and_restore(tmp_path, databases, source):
    target = databases("cli")
    with hub_at(tmp_path, target, "cli") as app:
        runner = app.test_cli_runner()
        truncated = tmp_path / "cut.tar.gz"
        truncated.write_bytes(source["file"].read_bytes()[:1000])
        result = runner.invoke(args=["restore", str(truncated)])
        assert result.exit_code == 1
        assert "damaged or truncated" in result.output
        assert "Traceback" not in result.output
        result = runner.invoke(args=["restore", str(source["file"])])
        assert result.exit_code == 0, result.output
        assert source["hub_id"] in result.output
        again = tmp_path / "again.tar.gz"
        result = runner.invoke(args=["backup", "-o", str(again)])
        assert result.exit_code == 0, result.output
        assert "key folder" in result.output
        with tarfile.open(again, "r:gz") as archive:
            names = archive.getnames()
            manifest = json.loads(archive.extractfile("manifest.json").read())
        assert names[0] == "manifest.json"
        assert manifest["hub_id"] == source["hub_id"]
        assert {log["name"]: (log["size"], log["root"]) for log in manifest["logs"]} == {
            name: value for name, value in source["heads"].items()
        }
        assert again.stat().st_mode & 0o077 == 0


def test_pg_dump_must_match_the_server(tmp_path, databases, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    major = backup.tool_major(backup.pg_tool("pg_dump"))
    url = databases("ver", init=True)
    with hub_at(tmp_path, url, "ver"):
        server = db.session.execute(text("SHOW server_version_num")).scalar()
    assert major >= int(server) // 10000


def test_every_member_of_a_backup_is_owner_only(source):
    """The database inside the backup extracts as 0600, as the manifest and the file do."""
    with tarfile.open(source["file"], "r:gz") as archive:
        modes = {info.name: info.mode & 0o777 for info in archive.getmembers()}
    assert len(modes) == 2, modes
    assert set(modes.values()) == {0o600}, modes
    assert source["file"].stat().st_mode & 0o777 == 0o600
