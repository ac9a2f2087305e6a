"""Engine behaviour per database: SQLite's WAL and IMMEDIATE transactions, schema checks."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaError(Exception):
    """The database's schema is not one this code can use."""


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

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised via engine
        # Let SQLAlchemy's "begin" event issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Sorts and percentile ranks of the compliance queries: in memory, not temp files.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised via engine
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_head() -> str:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


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
