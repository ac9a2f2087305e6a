"""Crash safety: kill the hub in the middle of heavy writing, restart, lose nothing.

A writer process appends audited changes from two threads as fast as it can and
records each number only after its commit returned (an *acknowledged* write).
Then, mid-stream:

- SQLite (20 rounds): the writer is killed with SIGKILL;
- PostgreSQL (10 rounds): the server is stopped with ``pg_ctl stop -m immediate``
  (no shutdown checkpoint: crash recovery on the next start).  The test owns that
  server: a throw-away cluster made with ``initdb`` on a free port, never the
  machine's shared server.

After each round: every acknowledged write is there, the database is sound
(``PRAGMA integrity_check`` on SQLite; on PostgreSQL the server recovered and
answers), and every audit log verifies.

To keep rounds fast, the writer is forked from a process that imported the hub
once ("zygote"), instead of paying the start-up cost twenty times.

Also here (not slow): a full disk during a write, simulated on SQLite with
``PRAGMA max_page_count``: the write fails cleanly with 503, nothing half-written
stays, and reads keep working.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from hub import backup, create_app
from hub.extensions import db
from hub.models import AuditEntry
from tests.conftest import _pg_exec, _settings

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SQLITE_ROUNDS = 20
PG_ROUNDS = 10
LOGS = ("QB-KM-MOU", "QB-SV-MOU")
# The crash rounds own their databases (a file; a cluster of their own), whatever the
# suite's backend: run them once, in the SQLite pass of CI.
once = pytest.mark.skipif(
    bool(os.environ.get("HUB_TEST_DATABASE_URL")),
    reason="crash rounds make their own databases of both kinds: run in the SQLite pass",
)

ZYGOTE = r"""
import json, os, sys, threading

config = json.loads(sys.argv[1])
from hub import create_app
from hub.config import Settings

app = create_app(Settings.from_env(config))
LOGS = ("QB-KM-MOU", "QB-SV-MOU")


def write(base, ack_path):
    from hub.extensions import db
    from hub.operations import audit
    from hub.operations.actor import SYSTEM

    with app.app_context():
        db.engine.dispose(close=False)  # never share a connection with the parent
    fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def worker(t):
        n = base + t
        with app.app_context():
            try:
                while True:
                    audit.record("crash.write", actor=SYSTEM, target_type="crash",
                                 target_id=n, logs=[LOGS[n % 2]])
                    db.session.commit()
                    os.write(fd, f"{n}\n".encode())  # acknowledged only now
                    n += 2
            except BaseException:
                os._exit(3)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


print("ready", flush=True)
for line in sys.stdin:
    base, ack_path = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            write(int(base), ack_path)
        finally:
            os._exit(1)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("dead", flush=True)
"""


class Zygote:
    def __init__(self, tmp: Path, settings: dict):
        script = tmp / "zygote.py"
        script.write_text(ZYGOTE)
        self.stderr = (tmp / "zygote.err").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={**os.environ, "HUB_LOG_LEVEL": "ERROR"},
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def fork(self, base: int, acks: Path) -> int:
        self.proc.stdin.write(f"{base} {acks}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def reaped(self) -> None:
        assert self.proc.stdout.readline().strip() == "dead"

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def _acked(path: Path) -> set[int]:
    if not path.exists():
        return set()
    text_ = path.read_text()
    lines = text_.split("\n")[:-1]  # a line cut by the kill has no newline: not acked
    return {int(line) for line in lines}


def _wait_for_acks(path: Path, at_least: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(_acked(path)) < at_least:
        assert time.monotonic() < deadline, "the writer acknowledged nothing"
        time.sleep(0.02)


def _check_round(app, acked: set[int], sqlite: bool) -> int:
    with app.app_context():
        db.engine.dispose()
        if sqlite:
            assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        stored = {
            int(t)
            for t in db.session.scalars(
                select(AuditEntry.target_id).where(AuditEntry.action == "crash.write")
            )
        }
        missing = acked - stored
        assert not missing, f"acknowledged writes lost: {sorted(missing)[:10]}"
        assert backup.verify_audit_logs() == []
        db.session.remove()
        db.engine.dispose()
        return len(stored)


def _rounds(tmp: Path, app, settings: dict, rounds: int, crash, after) -> int:
    zygote = Zygote(tmp, settings)
    acked: set[int] = set()
    try:
        for number in range(rounds):
            acks = tmp / f"acks-{number}.txt"
            pid = zygote.fork(1_000_000 * (number + 1), acks)
            _wait_for_acks(acks, 10)
            time.sleep(0.05 + (number % 5) * 0.04)  # kill at a different moment each round
            crash(pid)
            zygote.reaped()
            after()
            acked |= _acked(acks)
            _check_round(app, acked, sqlite=settings["database_url"].startswith("sqlite"))
    finally:
        zygote.close()
    return len(acked)


@pytest.mark.slow
@once
def test_sigkill_during_heavy_writing_loses_nothing_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    settings = _settings(tmp_path, url)
    app = create_app(settings)
    with app.app_context():
        from hub.cli.setup import initialise

        initialise()
        db.engine.dispose()
    config = _zygote_settings(tmp_path, url)
    acked = _rounds(
        tmp_path,
        app,
        config,
        SQLITE_ROUNDS,
        crash=lambda pid: os.kill(pid, signal.SIGKILL),
        after=lambda: None,
    )
    assert acked >= SQLITE_ROUNDS * 10


def _zygote_settings(tmp: Path, url: str) -> dict:
    return {
        "env": "development",
        "instance_path": str(tmp / "instance"),
        "database_url": url,
        "secret_key": "test-secret-key-not-for-production-use-0123456789",
        "keys_dir": str(tmp / "keys"),
        "key_passphrase": "test passphrase",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def own_postgres():
    """A throw-away PostgreSQL cluster on a free port, owned by this test."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not (initdb.exists() and pg_ctl.exists()):
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}: cannot own a cluster")
    base = Path(tempfile.mkdtemp(prefix="hub-crash-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        shutil.chown(base, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()

    def ctl(*args: str) -> None:
        subprocess.run(
            [*as_owner, str(pg_ctl), "-D", str(data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    subprocess.run(
        [
            *as_owner,
            str(initdb),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on"
    start = ("-w", "-l", str(base / "server.log"), "-o", options, "start")
    ctl(*start)
    try:
        yield {
            "url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/hub",
            "start": lambda: ctl(*start),
            "crash": lambda: ctl("-m", "immediate", "-w", "stop"),
        }
    finally:
        subprocess.run(
            [*as_owner, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@once
def test_immediate_stop_during_heavy_writing_loses_nothing_on_postgresql(tmp_path):
    with own_postgres() as cluster:
        url = cluster["url"]
        _pg_exec(url, 'CREATE DATABASE "hub"')
        app = create_app(_settings(tmp_path, url))
        with app.app_context():
            from hub.cli.setup import initialise

            initialise()
            db.engine.dispose()
        acked = _rounds(
            tmp_path,
            app,
            _zygote_settings(tmp_path, url),
            PG_ROUNDS,
            crash=lambda pid: cluster["crash"](),
            after=cluster["start"],
        )
        assert acked >= PG_ROUNDS * 10


# --- a full disk (simulated) ---


def test_full_disk_fails_the_write_cleanly_and_reads_keep_working(
    app, client, browser, make_user, database_backend
):
    if database_backend != "sqlite":
        pytest.skip(
            "simulated with SQLite's max_page_count; PostgreSQL would need a tiny filesystem"
        )
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    make_user("disk.admin", role="admin")

    def full_disk():
        accounts.add_user(
            SYSTEM,
            username="disk.new",
            password="a long enough pass " + "x" * 2000,
            organisation_code="QB",
            role="officer",
            display_name="y" * 6000,  # a row bigger than a page: it needs new pages
        )
        return "written"

    app.add_url_rule("/__test_write", "home.__test_write", full_disk, methods=["GET"])
    browser.login("disk.admin")
    assert client.get("/").status_code == 200

    db.session.remove()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE test_ballast (b BLOB)")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    # From now on the database file may not grow by a single page.
    def cap(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {int(pages)}")
        cursor.close()

    event.listen(db.engine, "connect", cap)
    db.engine.dispose()
    try:
        # Fill what free pages are left, so the next write needs a new page.
        with pytest.raises(OperationalError, match="full"):  # noqa: PT012
            for _ in range(100_000):
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO test_ballast VALUES (zeroblob(2000))")

        response = client.get("/__test_write", headers={"Accept-Language": "vi"})
        assert response.status_code == 503
        body = response.get_data(as_text=True)
        assert response.headers["X-Request-Id"] in body
        assert "SQLITE" not in body
        assert "full" not in body.lower()

        # Reads keep working, the failed write left nothing, the logs verify.
        assert client.get("/").status_code == 200
        assert client.get("/account").status_code == 200
        from hub.models import User

        db.session.remove()
        assert db.session.scalar(select(User.id).where(User.username == "disk.new")) is None
        assert backup.verify_audit_logs() == []
    finally:
        event.remove(db.engine, "connect", cap)
        db.session.remove()
        db.engine.dispose()
    # Space again: the same write now succeeds.
    assert client.get("/__test_write").status_code == 200
    assert make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
