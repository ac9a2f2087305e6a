"""Backups the hub can be trusted with: consistent while it runs, checked before restoring.

A backup is one gzip-compressed tar file holding, in this order:

``manifest.json``
    ``format``/``version``, when it was made, the hub id, the schema version
    (Alembic revision), the backend, the database member's size and SHA-256, and
    every audit log's tree size and root hash as they stood in the copy.
``database.sqlite3`` or ``database.pgdump``
    SQLite: a ``VACUUM INTO`` copy (one read transaction: a consistent snapshot
    while the hub keeps writing).  PostgreSQL: ``pg_dump -Fc`` run on a snapshot
    exported from a REPEATABLE READ transaction, the same one the manifest's log
    roots are read in, so manifest and dump agree exactly.

Restoring reads and checks the whole file first — format, hub id, schema, size,
hash — and refuses before touching the target.  The target must be empty (no
users, cases, exchanges or imported packages; a fresh ``hub init`` counts as
empty) unless ``force`` is given, and a non-empty target that belongs to another
hub is always refused.  SQLite restores into a temporary file beside the target,
checked (integrity, log roots) and then renamed over it; PostgreSQL restores the
dump (``pg_restore`` to SQL, run by ``psql --single-transaction``) followed by a
check of every log head, all in one transaction.  Either way an interrupted restore leaves
the target as it was.

The hub id is a random UUID stored in the ``settings`` table (key ``hub.id``)
the first time ``hub init`` (or a backup) runs; a restore carries it over, so
the restored hub is the same hub.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3

# pg_dump/pg_restore run with argument lists, never through a shell.
import subprocess  # nosec B404
import tarfile
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context
from flask_babel import gettext
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

from hub import database
from hub.extensions import db
from hub.models.identity import HUB_ID_KEY  # read_state's query names it literally

FORMAT = "blo-hub-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"
#: Rows here mean the database holds work that a restore would destroy.
WORK_TABLES = ("users", "cases", "exchanges", "imported_packages")
_WORK_QUERIES = {
    "users": "SELECT 1 FROM users LIMIT 1",
    "cases": "SELECT 1 FROM cases LIMIT 1",
    "exchanges": "SELECT 1 FROM exchanges LIMIT 1",
    "imported_packages": "SELECT 1 FROM imported_packages LIMIT 1",
}
_CHUNK = 1024 * 1024


def _(message: str, **values: Any) -> str:
    """gettext within a request; in the CLI (no request, no reader's locale) the source text."""
    if has_request_context():
        return gettext(message, **values)
    return message % values if values else message


class BackupError(Exception):
    """A backup or restore was refused or failed; the message says why, for a person."""


@dataclass(frozen=True)
class LogHead:
    name: str
    size: int
    root: str | None  # hex

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "root": self.root}


# --- the hub id ---


def ensure_hub_id() -> str:
    """The hub's id, made (by hub.models.identity.hub_id, the one place that makes it)
    and committed the first time it is asked for."""
    from hub.models import Setting
    from hub.models.identity import hub_id

    try:
        value = hub_id()
        db.session.commit()
    except IntegrityError:  # another process made it first: theirs stands
        db.session.rollback()
        theirs = db.session.get(Setting, HUB_ID_KEY)
        if theirs is None:  # the conflict was on this very key
            raise
        return theirs.value
    return value


# --- reading a database's state (works on a raw DB-API connection or SQLAlchemy) ---


def _rows(conn: Any, sql: str) -> list[tuple]:
    if isinstance(conn, sqlite3.Connection):
        return list(conn.execute(sql).fetchall())
    return [tuple(r) for r in conn.execute(text(sql)).fetchall()]


def _tables(conn: Any, backend: str) -> set[str]:
    if backend == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {r[0] for r in _rows(conn, sql)}


@dataclass(frozen=True)
class DatabaseState:
    tables: set[str]
    revision: str | None
    hub_id: str | None
    has_work: bool
    logs: list[LogHead]


def read_state(conn: Any, backend: str) -> DatabaseState:
    """What a restore needs to know about a database; table names here are constants."""
    tables = _tables(conn, backend)
    revision = hub_id = None
    if "alembic_version" in tables:
        found = _rows(conn, "SELECT version_num FROM alembic_version")
        revision = found[0][0] if found else None
    if "settings" in tables:
        found = _rows(conn, "SELECT value FROM settings WHERE key = 'hub.id'")
        hub_id = found[0][0] if found else None
    has_work = any(_rows(conn, query) for table, query in _WORK_QUERIES.items() if table in tables)
    logs = []
    if "audit_logs" in tables:
        for name, size, root in _rows(
            conn, "SELECT name, size, root FROM audit_logs ORDER BY name"
        ):
            logs.append(LogHead(name, int(size), bytes(root).hex() if root is not None else None))
    return DatabaseState(tables, revision, hub_id, has_work, logs)


# --- making a backup ---


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The database member is extracted readable by its owner only (0600), like the file."""
    info.mode = 0o600
    return info


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _hub_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("blo-hub")
    except PackageNotFoundError:
        return "unknown"


def _key_fingerprints(app: Flask) -> dict[str, str]:
    """Public fingerprints of the keys this hub holds privately: a restore can then say
    whether the key folder beside it is the right one.  Fingerprints are public."""
    from hub.crypto.keyring import Keyring

    try:
        infos = Keyring(app.config["HUB"].keys_dir).list_keys()
    except Exception:  # an unreadable key folder must not stop a database backup
        return {}
    return {f"{k.org}/{k.kind}-v{k.version}": k.fingerprint for k in infos if k.has_private}


def _backup_sqlite(engine: Engine, work: Path) -> tuple[Path, DatabaseState, dict]:
    source = _sqlite_path(str(engine.url))
    copy = work / SQLITE_MEMBER
    conn = sqlite3.connect(source, timeout=30)
    try:
        # One read transaction: the copy is the database as of one instant, whatever
        # the hub writes meanwhile (WAL lets it keep writing).
        conn.execute("VACUUM INTO ?", (str(copy),))
    finally:
        conn.close()
    copy_conn = sqlite3.connect(copy)
    try:
        state = read_state(copy_conn, "sqlite")
    finally:
        copy_conn.close()
    return copy, state, {"sqlite_version": sqlite3.sqlite_version}


def libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """A URL pg_dump understands, and the environment carrying its password (so the
    password never shows in the process list)."""
    parsed = make_url(url)
    env = {}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def pg_tool(name: str, server_major: int | None = None) -> Path:
    """The named PostgreSQL client tool, preferring the one matching the server's major."""
    candidates = []
    if server_major:
        candidates.append(Path(f"/usr/lib/postgresql/{server_major}/bin/{name}"))
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(
        _(
            "%(tool)s was not found: install the PostgreSQL client tools "
            "(postgresql-client) matching the server.",
            tool=name,
        )
    )


def tool_major(tool: Path) -> int:
    out = subprocess.run(  # noqa: S603 - fixed argument list, tool path resolved above
        [str(tool), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise BackupError(_("Cannot tell the version of %(tool)s.", tool=str(tool)))
    return int(match.group(1))


def _run_tool(argv: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(  # noqa: S603 - argument list, no shell; paths resolved above
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    if result.returncode != 0:
        # The tool's own first line says what failed; it names objects, not data.
        first = (result.stderr or "").strip().splitlines()[:1]
        raise BackupError(
            _("%(what)s failed: %(reason)s", what=what, reason=first[0] if first else "")
        )


def _backup_postgres(engine: Engine, work: Path) -> tuple[Path, DatabaseState, dict]:
    dump = work / PG_MEMBER
    url, env = libpq_url(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            server_major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
            pg_dump = pg_tool("pg_dump", server_major)
            dump_major = tool_major(pg_dump)
            if dump_major < server_major:
                raise BackupError(
                    _(
                        "pg_dump %(tool)s is older than the PostgreSQL server %(server)s: "
                        "install postgresql-client-%(server)s.",
                        tool=dump_major,
                        server=server_major,
                    )
                )
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            state = read_state(conn, "postgresql")
            # pg_dump reads the same snapshot while this transaction stays open.
            _run_tool(
                [str(pg_dump), "-Fc", f"--snapshot={snapshot}", "-f", str(dump), "-d", url],
                env,
                "pg_dump",
            )
    return dump, state, {"server_major": server_major, "pg_dump_major": dump_major}


def make_backup(app: Flask, output: Path) -> dict[str, Any]:
    """Write a backup of the running hub to `output` (atomically); return its manifest."""
    ensure_hub_id()
    db.session.remove()  # hold no transaction while the copy runs (SQLite: IMMEDIATE)
    engine = db.engine
    backend = "sqlite" if app.config["HUB"].is_sqlite else "postgresql"
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".hub-backup-") as tmp:
        work = Path(tmp)
        if backend == "sqlite":
            member, state, extra = _backup_sqlite(engine, work)
        else:
            member, state, extra = _backup_postgres(engine, work)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "hub_id": state.hub_id,
            "hub_version": _hub_version(),
            "schema_version": state.revision,
            "backend": backend,
            "database": {
                "member": member.name,
                "size": member.stat().st_size,
                "sha256": _sha256_file(member),
                **extra,
            },
            "logs": [log.as_dict() for log in state.logs],
            "keys": _key_fingerprints(app),
        }
        partial = work / "backup.partial"
        with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
            raw = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(raw), 0o600, int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(raw))
            archive.add(member, arcname=member.name, recursive=False, filter=_private)
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(partial, 0o600)  # it holds the whole database
        os.replace(partial, output)
    _fsync_dir(output.parent)
    return manifest


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- reading and checking a backup ---


@dataclass(frozen=True)
class CheckedBackup:
    manifest: dict[str, Any]
    database_file: Path  # extracted and verified (size and SHA-256)


def _damaged() -> BackupError:
    return BackupError(_("The backup file is damaged or truncated; nothing was changed."))


def _check_manifest(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("This is not a BLO Hub backup file; nothing was changed."))
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(
            _(
                "This backup was made by a newer hub (format %(version)s); upgrade the hub first.",
                version=str(manifest.get("version")),
            )
        )
    required = ("hub_id", "schema_version", "backend", "database", "logs")
    if any(manifest.get(key) in (None, "") for key in required):
        raise _damaged()
    if not isinstance(manifest["database"], dict) or not isinstance(manifest["logs"], list):
        raise _damaged()
    if not all(isinstance(log, dict) for log in manifest["logs"]):
        raise _damaged()
    if manifest["schema_version"] not in database.known_revisions():
        raise BackupError(
            _(
                "This backup has a newer database schema (%(revision)s) than this hub knows; "
                "upgrade the hub first. Nothing was changed.",
                revision=str(manifest["schema_version"]),
            )
        )
    return manifest


def read_backup(path: Path, work: Path) -> CheckedBackup:
    """Read the whole file, check it, extract the database into `work`; touch nothing else."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            first = archive.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise _damaged()
            handle = archive.extractfile(first)
            manifest = _check_manifest(json.loads(handle.read().decode()) if handle else None)
            expected = manifest["database"]
            member = archive.next()
            if member is None or member.name != expected.get("member") or not member.isfile():
                raise _damaged()
            if member.name not in (SQLITE_MEMBER, PG_MEMBER):
                raise _damaged()
            target = work / member.name  # our own name: never a path from the archive
            digest = hashlib.sha256()
            size = 0
            source = archive.extractfile(member)
            if source is None:
                raise _damaged()
            with target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if archive.next() is not None:
                raise _damaged()
    except BackupError:
        raise
    except FileNotFoundError:
        raise BackupError(_("The backup file does not exist.")) from None
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError, UnicodeError):
        raise _damaged() from None
    if size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
        raise _damaged()
    return CheckedBackup(manifest, target)


# --- restoring ---


def _log_mismatches(state: DatabaseState, manifest: dict[str, Any]) -> list[str]:
    want = {log["name"]: (log["size"], log["root"]) for log in manifest["logs"]}
    have = {log.name: (log.size, log.root) for log in state.logs}
    return sorted(name for name in set(want) | set(have) if want.get(name) != have.get(name))


def _refuse_target(target: DatabaseState, manifest: dict[str, Any], force: bool) -> None:
    if target.revision and target.revision not in database.known_revisions():
        raise BackupError(
            _("The target database has a newer schema than this hub knows; nothing was changed.")
        )
    if not target.has_work:
        return  # empty, or only what `hub init` loads: nothing would be lost
    if target.hub_id and target.hub_id != manifest["hub_id"]:
        raise BackupError(
            _(
                "This backup is from another hub (%(theirs)s); the target database belongs to "
                "hub %(ours)s and holds data. Nothing was changed.",
                theirs=manifest["hub_id"],
                ours=target.hub_id,
            )
        )
    if not force:
        raise BackupError(
            _(
                "The target database is not empty. Restore into an empty database, or use "
                "--force to replace its contents. Nothing was changed."
            )
        )


def _sqlite_state(path: Path) -> DatabaseState:
    if not path.exists() or path.stat().st_size == 0:
        return DatabaseState(set(), None, None, False, [])
    conn = sqlite3.connect(path, timeout=30)
    try:
        return read_state(conn, "sqlite")
    finally:
        conn.close()


def _restore_sqlite(checked: CheckedBackup, target: Path, force: bool) -> None:
    manifest = checked.manifest
    _refuse_target(_sqlite_state(target), manifest, force)
    # Check the copy completely before it replaces anything.
    try:
        conn = sqlite3.connect(checked.database_file)
        try:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise _damaged()
            mismatched = _log_mismatches(read_state(conn, "sqlite"), manifest)
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise _damaged() from None
    if mismatched:
        raise BackupError(
            _(
                "The audit logs in the backup do not match its manifest: %(logs)s.",
                logs=", ".join(mismatched),
            )
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.restore-{uuid.uuid4().hex[:8]}")
    shutil.copyfile(checked.database_file, staged)
    # Keep the target's permissions (the hub's user must still open it); a new file is
    # readable by its owner only.
    if target.exists():
        current = target.stat()
        os.chmod(staged, current.st_mode & 0o777)
        if os.geteuid() == 0:  # restoring as root for a hub that runs as its own user
            os.chown(staged, current.st_uid, current.st_gid)
    else:
        os.chmod(staged, 0o600)
    with staged.open("rb+") as handle:
        os.fsync(handle.fileno())
    try:
        if target.exists():
            # Fold the old WAL into the old file, then drop it: a stale WAL beside the
            # new file would be replayed onto it.
            old = sqlite3.connect(target, timeout=30)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    _fsync_dir(target.parent)


_HEADS_DIFFER = "blo-hub restore: audit log heads differ from the manifest"
_LOG_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEX_ROOT = re.compile(r"^[0-9a-f]{64}$")
_CHECK_LINE = (
    "  IF NOT EXISTS (SELECT 1 FROM public.audit_logs WHERE {condition}) "  # nosec B608
    "THEN RAISE EXCEPTION '{message}'; END IF;"
)
_COUNT_LINE = (
    "  IF (SELECT count(*) FROM public.audit_logs) <> {count} "
    "THEN RAISE EXCEPTION '{message}'; END IF;\n"
)


def heads_check_sql(manifest: dict[str, Any]) -> str:
    """A DO block that aborts the restore's transaction unless every log head equals the
    manifest's.  Every value is validated first (the file is not trusted)."""
    checks = []
    for log in manifest["logs"]:
        name, size, root = log.get("name"), log.get("size"), log.get("root")
        if not (isinstance(name, str) and _LOG_NAME.match(name)) or type(size) is not int:
            raise _damaged()
        if root is None:
            root_sql = "root IS NULL"
        elif isinstance(root, str) and _HEX_ROOT.match(root):
            root_sql = f"root = decode('{root}', 'hex')"
        else:
            raise _damaged()
        # Safe to build as text: name, size and root were matched against strict
        # patterns above, and psql runs a script, which takes no bind parameters.
        condition = f"name = '{name}' AND size = {size} AND {root_sql}"
        checks.append(_CHECK_LINE.format(condition=condition, message=_HEADS_DIFFER))
    count_line = _COUNT_LINE.format(count=len(manifest["logs"]), message=_HEADS_DIFFER)
    return "DO $verify$\nBEGIN\n" + count_line + "\n".join(checks) + "\nEND\n$verify$;\n"


def _restore_postgres(checked: CheckedBackup, engine: Engine, force: bool) -> None:
    """pg_restore writes the dump as SQL; psql runs it, then the heads check, in ONE
    transaction: an interruption or a mismatch leaves the target as it was."""
    manifest = checked.manifest
    with engine.connect() as conn:
        state = read_state(conn, "postgresql")
        server_major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    _refuse_target(state, manifest, force)
    engine.dispose()  # our own pooled connections would hold locks the restore needs
    pg_restore = pg_tool("pg_restore", server_major)
    psql = pg_tool("psql", server_major)
    url, env = libpq_url(engine.url.render_as_string(hide_password=False))
    script = checked.database_file.with_suffix(".sql")
    argv = [str(pg_restore), "--no-owner", "--no-privileges", "-f", str(script)]
    if state.tables:
        # What `hub init` made (or, with --force, the older data) is dropped first,
        # inside the same transaction.
        argv += ["--clean", "--if-exists"]
    _run_tool([*argv, str(checked.database_file)], env, "pg_restore")
    with script.open("a", encoding="utf-8") as handle:
        handle.write("\n" + heads_check_sql(manifest))
    try:
        _run_tool(
            [
                str(psql),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-f",
                str(script),
            ],
            env,
            "psql",
        )
    except BackupError as exc:
        if _HEADS_DIFFER in str(exc):
            raise BackupError(
                _(
                    "The audit logs in the backup do not match its manifest: %(logs)s.",
                    logs=_("the restore was rolled back"),
                )
            ) from None
        raise
    finally:
        script.unlink(missing_ok=True)


def verify_audit_logs() -> list[str]:
    """Recompute every log from its stored entries and check it (hub.audit.verify: the
    tree, the signed checkpoints, the head); return the problems."""
    from hub.audit.verify import verify as audit_verify

    try:
        results = audit_verify(db.engine)
    except Exception as exc:  # reported, not hidden: e.g. the key folder is missing
        return [f"audit verify could not run: {type(exc).__name__}"]
    return [result.line() for result in results if not result.ok]


def verify_restored() -> list[str]:
    """After a restore: the logs' entries verify (and SQLite's integrity check passes).

    Each log's head was compared with the manifest before the restore took effect
    (in the staged copy, or in psql's transaction), so it is not compared again here.
    Returns the problems found (empty when all is well).
    """
    engine = db.engine
    problems = verify_audit_logs()
    if engine.url.get_backend_name() == "sqlite":
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA integrity_check").scalar() != "ok":
                problems.append("integrity_check failed")
    return problems


def restore_backup(app: Flask, path: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore `path` into the configured database; return the manifest.

    Stop the hub first: a running hub would keep the old database open.
    """
    settings = app.config["HUB"]
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    db.session.remove()
    engine = db.engine
    if backend == "sqlite":
        work_parent = _sqlite_path(settings.database_url).resolve().parent
        work_parent.mkdir(parents=True, exist_ok=True)
    else:
        work_parent = None
    with tempfile.TemporaryDirectory(dir=work_parent, prefix=".hub-restore-") as tmp:
        checked = read_backup(Path(path), Path(tmp))
        if checked.manifest["backend"] != backend:
            raise BackupError(
                _(
                    "This backup is of a %(theirs)s database and the hub uses %(ours)s; "
                    "restore it into the same kind of database. Nothing was changed.",
                    theirs=checked.manifest["backend"],
                    ours=backend,
                )
            )
        engine.dispose()
        if backend == "sqlite":
            _restore_sqlite(checked, _sqlite_path(settings.database_url).resolve(), force)
        else:
            _restore_postgres(checked, engine, force)
    engine.dispose()
    problems = verify_restored()
    if problems:
        raise BackupError(
            _(
                "The database was restored, but its audit logs do not verify: %(problems)s. "
                "If the key folder is not in place yet, restore it and run hub audit verify.",
                problems="; ".join(problems),
            )
        )
    return checked.manifest


def missing_keys(app: Flask, manifest: dict[str, Any]) -> list[str]:
    """Keys the backed-up hub held privately that the key folder here lacks."""
    here = _key_fingerprints(app)
    return sorted(name for name, fp in manifest.get("keys", {}).items() if here.get(name) != fp)
