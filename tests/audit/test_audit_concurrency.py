"""Concurrent writers on one log: no fork, no gap, no duplicate, no lost entry.

8 threads, each with its own app context and session, append 2,000 entries
each (one transaction per entry, as operations do) to one agreement whose log
does not exist yet, so the creation of the log is raced too. Run on both
databases whatever the suite's backend.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from hub import create_app
from hub.audit import verify
from hub.audit.entry import decode_entry
from hub.extensions import db
from hub.models import Agreement, AuditEntry, AuditLog, Organisation
from hub.operations import audit
from hub.operations.actor import SYSTEM
from hub.operations.unit import unit_of_work
from tests.support.audit_support import make_hub_key

WRITERS = 8
EACH = int(__import__("os").environ.get("HUB_RACE_EACH", "2000"))
CODE = "RACE-2026"


def _fresh_app(tmp_path, url: str):
    from tests.conftest import _initialise, _settings

    app = create_app(_settings(tmp_path, url))
    make_hub_key(app)  # before the first write, so checkpoints get signed from the start
    _initialise(app)
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def race_app(request, tmp_path, database_backend):
    if request.param == "sqlite" and database_backend == "postgresql":
        pytest.skip("the SQLite race runs in the SQLite suite; this run is PostgreSQL's")
    if request.param == "sqlite":
        app = _fresh_app(tmp_path, f"sqlite:///{tmp_path / 'race.sqlite3'}")
        yield app
        with app.app_context():
            db.engine.dispose()
        return
    server = request.getfixturevalue("postgres_url")
    name = f"hub_audit_race_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # Durability of each commit is not what this test is about, and waiting
        # for the disk 16,000 times would make it slow; locking is unchanged.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        app = _fresh_app(tmp_path, make_url(server).set(database=name).render_as_string(False))
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
def test_eight_writers_2000_entries_each_make_one_unbroken_log(race_app):
    app = race_app
    with app.app_context():
        qb = db.session.scalar(select(Organisation).where(Organisation.code == "QB"))
        db.session.add(
            Agreement(
                code=CODE,
                kind="plan",
                title_vi="t",
                title_lo="t",
                title_en="t",
                parties=[qb],
            )
        )
        db.session.commit()  # no audit log yet: the writers race to create it

    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(number: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(EACH):
                    with unit_of_work():  # one operation each: committed, signed when due
                        audit.record(
                            "race_step",
                            actor=SYSTEM,
                            target_type="writer",
                            target_id=f"{number}:{i}",
                            logs=[CODE],
                        )
                db.session.remove()
        except BaseException as exc:  # reported below, with the thread's number
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    with app.app_context():
        logs = db.session.scalars(select(AuditLog).where(AuditLog.name == CODE)).all()
        assert len(logs) == 1  # the creation race made one log
        log = logs[0]
        total = WRITERS * EACH
        assert log.size == total
        indexes = list(
            db.session.scalars(
                select(AuditEntry.index)
                .where(AuditEntry.log_id == log.id)
                .order_by(AuditEntry.index)
            )
        )
        assert indexes == list(range(total))  # no gap, no duplicate
        targets = Counter(
            decode_entry(bytes(leaf))["target_id"]
            for leaf in db.session.scalars(
                select(AuditEntry.leaf_input).where(AuditEntry.log_id == log.id)
            )
        )
        assert len(targets) == total  # no entry lost or written twice
        assert set(targets.values()) == {1}
        db.session.commit()
        [result] = verify.verify(db.engine, log_name=CODE)
        assert result.ok, result.line()
        assert result.size == total
        assert result.checkpoints >= 1  # signed after the first write batch, once
