"""Engine behaviour per database: SQLite's WAL and IMMEDIATE transactions, schema checks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaError(Exception):
    """The database's schema is not one this code can use."""


#: SQLite's primary result codes for a file that is not a database or is damaged.
_SQLITE_DAMAGED = {11: "fails integrity_check", 26: "is not a database"}  # CORRUPT, NOTADB


class DatabaseDamaged(Exception):
    """The SQLite file is not a database or is damaged: only a backup helps."""

    def __init__(self, path: str, what: str):
        super().__init__(path, what)
        self.path, self.what = path, what

    def line(self) -> str:
        from flask_babel import gettext as _

        if self.what == _SQLITE_DAMAGED[26]:
            return _(
                "the database file %(path)s is not a database: stop the hub and restore "
                "the last backup with hub restore",
                path=self.path,
            )
        return _(
            "the database file %(path)s fails integrity_check: stop the hub and restore "
            "the last backup with hub restore",
            path=self.path,
        )


def damaged(exc: BaseException, path: str | None) -> DatabaseDamaged | None:
    """The DatabaseDamaged that ``exc`` (raw or wrapped by SQLAlchemy) stands for, if any."""
    if isinstance(exc, DatabaseDamaged):
        return exc
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    if (
        isinstance(orig, sqlite3.DatabaseError)
        and code is not None
        and code & 0xFF in _SQLITE_DAMAGED
    ):
        return DatabaseDamaged(path or "?", _SQLITE_DAMAGED[code & 0xFF])
    return None


def engine_options(database_url: str) -> dict:
    if database_url.startswith("sqlite"):
        # One connection per thread; the busy timeout lets writers queue instead of failing.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, and every transaction begun IMMEDIATE.

    WAL alone lets two deferred transactions both read, then both try to write:
    one gets "database is locked" at once, without waiting.  Taking the write
    lock at BEGIN makes writers queue on the busy timeout instead.

    Every per-connection PRAGMA is set here, once, before any transaction: some
    (temp_store) refuse to change inside one on a connection that has already
    used temporary storage, which a pooled connection in a long-running process has.
    """

    path = engine.url.database

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:  # pragma: no cover
        # Let SQLAlchemy's "begin" event issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # the first read of the file
        except sqlite3.DatabaseError as exc:
            raise damaged(exc, path) or exc from exc
        _private(path)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Sorts and percentile ranks of the compliance queries: in memory, not temp files.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def foreign_keys_off_for_migrations(connection: Connection) -> None:
    """SQLite: foreign keys off on the migrations' connection (hub/migrations/env.py),
    which is invalidated afterwards, never handed back to the pool.

    A batch rebuild drops and re-creates a table others point at; with foreign keys
    on, the drop deletes its rows under them and the commit fails. The switch works
    only outside a transaction, so it is made on the driver's connection before
    Alembic begins one; a migration that rebuilds runs `PRAGMA foreign_key_check`
    itself before it ends (SQLite's own procedure for altering a table).
    """
    driver = connection.connection.driver_connection
    if driver is None:  # only a connection the pool invalidated has none
        raise RuntimeError("the connection is closed")
    driver.execute("PRAGMA foreign_keys=OFF")


def _private(path: str | None) -> None:
    """The database, its -wal and -shm readable by the hub's user only (they hold
    every record); sqlite creates them with the umask's mode."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


def alembic_head() -> str:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:  # the package ships its migrations
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


def known_revisions() -> set[str]:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema_not_newer(engine: Engine) -> None:
    """Refuse a database migrated by a newer hub: we would not know its tables."""
    current = current_revision(engine)
    if current is not None and current not in known_revisions():
        raise SchemaError(
            f"the database schema ({current}) is newer than this hub knows; "
            "upgrade the hub before using this database"
        )
