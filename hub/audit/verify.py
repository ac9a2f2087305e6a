"""Recompute every log's tree from its stored entries and check it against what was signed.

This is the reference verify: one process, one streaming pass per log, read in
index order, folded with :mod:`hub.audit.merkle`. ``hub.audit.verify_fast``
gives the same verdict faster; a test holds the two to it on every tamper case.

A log is verified by the checks of :data:`CHECKS`, in order; the first problem
one finds is the log's verdict. What they find, and where they name it:

- a checkpoint with a bad signature, from an unknown key, or of another log;
- truncation below a signed (or the partner's) checkpoint: its size and the
  first missing index;
- a deleted entry: the first index missing from the sequence;
- a changed, reordered or inserted entry: the recomputed root stops matching a
  signed checkpoint or the head; then the entries since the last root that
  matched are read again, each against the leaf hash stored when it was
  appended and its own ``index`` and ``log`` fields, and the first that differs
  is named. If the stored hashes were rewritten too, the first index after the
  last matching signed checkpoint is named;
- a stored Merkle node (``audit_nodes``: what proofs and checkpoints are built
  from) missing or different from the recomputed one: its level and index,
  the first in the order the appends wrote them (by the last leaf it covers,
  lower level first);
- an entry beyond the head (inserted at the end) or with a negative index;
- with ``deep``: an entry whose columns (action, actor, organisation, target,
  time) differ from its hashed bytes. The default pass reads only the bytes the
  tree covers; the log pages filter on those bytes too (hub.audit.fields), so a
  column edited alone changes nothing they list.

The reads use one raw database connection in a read-only snapshot (SQLite: a
deferred transaction, so writers are not blocked; PostgreSQL: REPEATABLE READ,
server-side cursors), so the log may keep growing while it is verified, and
memory holds a compact range and a few fetched rows whatever the log's size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from hub.audit import checkpoints, merkle, note
from hub.audit.entry import EntryError, decode_entry, format_time

#: Rows fetched at a time.
FETCH = 5_000


@dataclass
class Problem:
    """The first thing that does not hold in one log."""

    log: str
    index: int | None
    kind: str  # missing, beyond_head, changed, moved, rewritten, truncated, checkpoint, head, node
    detail: str

    def __str__(self) -> str:
        where = f" at index {self.index}" if self.index is not None else ""
        return f"audit log {self.log}: {self.detail}{where}"


@dataclass
class Result:
    log: str
    size: int
    root: bytes
    checkpoints: int = 0
    problem: Problem | None = None
    partner: note.Checkpoint | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        if self.problem is not None:
            return str(self.problem)
        text = f"audit log {self.log}: {self.size} entries verified, {self.checkpoints} checkpoints"
        if self.partner is not None and self.partner.size == self.size:
            text += f"; the partner's checkpoint at size {self.partner.size} matches"
        elif self.partner is not None:
            text += f"; the partner's checkpoint at size {self.partner.size} is extended"
        return text


Row = tuple[Any, ...]


class Reader:
    """Raw DB-API reads in one snapshot; ``%s`` placeholders on both databases."""

    def __init__(self, dbapi: Any, backend: str, engine: Engine | None = None):
        self.conn, self.backend, self._n = dbapi, backend, 0
        self.engine = engine

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.backend == "sqlite" else sql

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        # Binary results on PostgreSQL: hashes and entries come as bytes, not hex text.
        binary = {"binary": True} if self.backend == "postgresql" else {}
        cursor = self.conn.cursor(**binary)
        try:
            cursor.execute(self._sql(sql), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def stream(
        self, sql: str, params: tuple[Any, ...] = (), size: int = 0
    ) -> Generator[Row, None, None]:
        """Rows one by one, fetched ``size`` (FETCH) at a time; on PostgreSQL from a
        server-side cursor, so memory holds one batch."""
        size = size or FETCH
        if self.backend == "postgresql":
            self._n += 1
            cursor = self.conn.cursor(name=f"hub_audit_verify_{self._n}", binary=True)
            cursor.itersize = size
        else:
            cursor = self.conn.cursor()
        try:
            cursor.execute(self._sql(sql), params)
            while rows := cursor.fetchmany(size):
                yield from rows
        finally:
            cursor.close()


@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[Reader]:
    """A reader in a read-only snapshot."""
    raw = engine.raw_connection()
    dbapi: Any = raw.driver_connection
    try:
        if engine.dialect.name == "sqlite":
            # The engine's connections run with isolation_level=None: this BEGIN is ours,
            # deferred, so it is a read snapshot that does not take the write lock.
            dbapi.execute("BEGIN")
        else:
            dbapi.rollback()
            dbapi.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield Reader(dbapi, engine.dialect.name, engine)
    finally:
        with contextlib.suppress(Exception):
            dbapi.rollback()
        raw.close()


class Target(NamedTuple):
    """A (size, root) the recomputed tree must meet, and what vouches for it."""

    size: int
    root: bytes
    what: str


@dataclass
class Log:
    """One log under verification: what its checks read and what they leave each other."""

    reader: Reader
    id: int
    name: str
    size: int
    root: bytes
    keys: dict[str, Ed25519PublicKey]
    partner: note.Checkpoint | None
    deep: bool
    result: Result
    #: Set by check_checkpoints, sorted by size; the head's (size, root) last.
    targets: list[Target] = field(default_factory=list)


Check = Callable[[Log], "Problem | None"]

ENTRIES = (
    'SELECT "index", leaf_input FROM audit_entries WHERE log_id = %s AND "index" >= %s '
    'AND "index" < %s ORDER BY "index"'
)


def check_checkpoints(log: Log) -> Problem | None:
    """Signature, origin and columns of every stored checkpoint; collects the targets."""
    rows = log.reader.stream(
        "SELECT size, root, note FROM audit_checkpoints WHERE log_id = %s ORDER BY size, id",
        (log.id,),
    )
    for size, root, text in rows:
        try:
            parsed = checkpoints.verify_note(text, log.name, log.keys)
        except note.NoteError as exc:
            return Problem(log.name, None, "checkpoint", f"checkpoint of size {size}: {exc}")
        if parsed.size != int(size) or parsed.root != bytes(root):
            detail = f"checkpoint of size {size}: columns differ from its note"
            return Problem(log.name, None, "checkpoint", detail)
        log.targets.append(Target(int(size), bytes(root), f"the signed checkpoint of size {size}"))
        log.result.checkpoints += 1
    if log.partner is not None:
        what = f"the partner's checkpoint of size {log.partner.size}"
        log.targets.append(Target(log.partner.size, log.partner.root, what))
    log.targets.sort(key=lambda t: t.size)
    if log.targets and log.targets[-1].size > log.size:
        ((count,),) = log.reader.all(
            'SELECT COUNT(*) FROM audit_entries WHERE log_id = %s AND "index" < %s',
            (log.id, log.size),
        )
        return Problem(
            log.name,
            min(log.size, int(count)),
            "truncated",
            f"{log.targets[-1].what} covers more entries than the log's {log.size}; "
            "truncated below a signed checkpoint, first missing index",
        )
    log.targets.append(Target(log.size, log.root, "the log's head"))
    for target in log.targets:
        if target.size == 0 and target.root != merkle.EMPTY_ROOT:
            return Problem(log.name, None, "head", f"{target.what} has a root for no entries")
    log.targets = [t for t in log.targets if t.size > 0]
    return None


class StoredNodes:
    """The stored nodes of a log, one index-ordered stream per level, read as the fold
    reaches them."""

    def __init__(self, reader: Reader, log_id: int):
        self.reader, self.log_id = reader, log_id
        self.streams: dict[int, Generator[Row, None, None]] = {}
        self.ahead: dict[int, Row] = {}  # a row read past a missing node

    def differs(self, level: int, index: int, computed: bytes) -> str | None:
        """What is wrong with stored node (level, index), if anything."""
        if level not in self.streams:
            self.streams[level] = self.reader.stream(
                'SELECT "index", hash FROM audit_nodes WHERE log_id = %s AND level = %s '
                'AND "index" >= %s ORDER BY "index"',
                (self.log_id, level, index),
                # Level L is reached once per 2**L entries: so many rows held per level.
                max(16, FETCH >> level),
            )
        row = self.ahead.pop(level, None) or next(self.streams[level], None)
        if row is None or int(row[0]) != index:
            if row is not None:
                self.ahead[level] = row
            return "is missing"
        return None if bytes(row[1]) == computed else "does not match the tree of the entries"

    def close(self) -> None:
        for stream in self.streams.values():
            stream.close()


def node_problem(name: str, level: int, index: int, what: str) -> Problem:
    return Problem(
        name, None, "node", f"stored node (level {level}, index {index}) {what}; proofs use it"
    )


def gap_problem(name: str, expected: int, found: int | None) -> Problem:
    """Entry ``expected`` comes next, the stream gave ``found`` (None: nothing more)."""
    if found is not None and found < expected:
        return Problem(name, found, "moved", "two entries carry this index")
    return Problem(name, expected, "missing", "entry is missing")


def check_tree(log: Log) -> Problem | None:
    """Fold the entries into the tree, meet every target on the way, and check every
    stored node against the recomputed one."""
    tree, targets, good = merkle.StreamingRoot(), iter(log.targets), 0
    target, bad = next(targets, None), None
    nodes = StoredNodes(log.reader, log.id)
    try:
        for index, leaf in log.reader.stream(ENTRIES, (log.id, 0, log.size)):
            if int(index) != tree.size:
                return gap_problem(log.name, tree.size, int(index))
            for level, i, h in tree.push(merkle.leaf_hash(bytes(leaf))):
                what = nodes.differs(level, i, h) if bad is None else None
                bad = node_problem(log.name, level, i, what) if what else bad
            while target is not None and target.size == tree.size:
                if tree.root() != target.root:
                    return diagnose(log, good, target)
                good, target = target.size, next(targets, None)
    finally:
        nodes.close()
    if tree.size < log.size:
        return gap_problem(log.name, tree.size, None)
    return bad


def diagnose(log: Log, start: int, target: Target) -> Problem:
    """The tree does not meet ``target`` though it met the one at ``start``: the first
    entry in ``[start, target.size)`` that differs from what was appended."""
    return first_bad_entry(log, start, target.size) or Problem(
        log.name,
        start,
        "rewritten",
        f"the tree does not match {target.what}, and the stored hashes were rewritten with it; "
        "first index that does not match",
    )


def first_bad_entry(log: Log, start: int, end: int) -> Problem | None:
    """The first entry in ``[start, end)`` that is not what was appended (its bytes
    against the leaf hash stored then) or whose columns differ from its bytes."""
    rows = log.reader.stream(
        'SELECT e."index", e.leaf_input, n.hash, e.actor, e.action, e.organisation, '
        "e.target_type, e.target_id, e.created_at FROM audit_entries e "
        "LEFT JOIN audit_nodes n ON n.log_id = e.log_id AND n.level = 0 "
        'AND n."index" = e."index" '
        'WHERE e.log_id = %s AND e."index" >= %s AND e."index" < %s ORDER BY e."index"',
        (log.id, start, end),
    )
    try:
        for index, leaf, stored, *columns in rows:
            problem = entry_problem(log.name, int(index), bytes(leaf), stored, columns)
            if problem is not None:
                return problem
        return None
    finally:
        rows.close()


def entry_problem(
    name: str, index: int, leaf: bytes, stored: bytes | None, columns: list[Any]
) -> Problem | None:
    try:
        fields = decode_entry(leaf)
    except EntryError as exc:
        return Problem(name, index, "changed", f"entry is not a valid entry ({exc})")
    if fields["log"] != name:
        return Problem(name, index, "moved", f"entry belongs to log {fields['log']}")
    if fields["index"] != index:
        return Problem(name, index, "moved", f"entry carries index {fields['index']}")
    if stored is None:
        return Problem(name, index, "changed", "entry has no stored hash (inserted?)")
    if merkle.leaf_hash(leaf) != bytes(stored):
        return Problem(name, index, "changed", "entry was changed after it was appended")
    *mirrored, created_at = columns
    hashed = ("actor", "action", "organisation", "target_type", "target_id")
    if mirrored != [fields[k] for k in hashed] or _time_text(created_at) != fields["time"]:
        return Problem(name, index, "changed", "entry's columns differ from its hashed bytes")
    return None


def _time_text(value: str | datetime) -> str:
    if isinstance(value, str):  # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff': read as it is
        return value.replace(" ", "T", 1) + "Z"
    return format_time(value if value.tzinfo else value.replace(tzinfo=UTC))


def check_stray(log: Log) -> Problem | None:
    """An entry outside ``0 .. size - 1``."""
    ((above,),) = log.reader.all(
        'SELECT min("index") FROM audit_entries WHERE log_id = %s AND "index" >= %s',
        (log.id, log.size),
    )
    if above is not None:
        return Problem(log.name, int(above), "beyond_head", "entry beyond the head")
    ((below,),) = log.reader.all(
        'SELECT max("index") FROM audit_entries WHERE log_id = %s AND "index" < 0', (log.id,)
    )
    if below is not None:
        return Problem(log.name, int(below), "moved", "entry carries a negative index")
    return None


def check_columns(log: Log) -> Problem | None:
    """With ``deep``: every entry decoded and checked against its stored hash and columns."""
    return first_bad_entry(log, 0, log.size) if log.deep else None


def check_partner(log: Log) -> Problem | None:
    """The partner's checkpoint, met on the way if at this size, is extended by the head."""
    partner = log.partner
    if partner is not None and 0 < partner.size < log.size:

        def get(level: int, index: int) -> bytes:
            rows = log.reader.all(
                'SELECT hash FROM audit_nodes WHERE log_id = %s AND level = %s AND "index" = %s',
                (log.id, level, index),
            )
            return bytes(rows[0][0])

        proof = merkle.consistency_proof(partner.size, log.size, get)
        merkle.verify_consistency(partner.size, log.size, proof, partner.root, log.root)
        log.result.notes.append(f"consistency proof {partner.size} -> {log.size} holds")
    return None


#: The checks of one log, in order; the first problem is the verdict.
CHECKS: list[Check] = [check_checkpoints, check_tree, check_stray, check_columns, check_partner]


def verify_log(log: Log, checks: list[Check] | None = None) -> Result:
    for check in CHECKS if checks is None else checks:
        log.result.problem = check(log)
        if log.result.problem is not None:
            break
    return log.result


def verify(
    engine: Engine,
    *,
    log_name: str | None = None,
    partner_checkpoint: str | None = None,
    deep: bool = False,
    checks: list[Check] | None = None,
) -> list[Result]:
    """Verify one log or all of them. A partner's checkpoint picks its log by origin
    when ``log_name`` is not given. Raises :class:`note.NoteError` for an unusable
    partner checkpoint and LookupError for an unknown log."""
    keys = checkpoints.public_keys()
    partner = None
    if partner_checkpoint is not None:
        parsed = note.parse_checkpoint(partner_checkpoint)
        owner = checkpoints.log_name_of(parsed.origin)
        if owner is None or (log_name is not None and owner != log_name):
            raise note.NoteError(
                f"the checkpoint is for {parsed.origin!r}, not for log {log_name or 'of this hub'}"
            )
        log_name = owner
        partner = checkpoints.verify_note(partner_checkpoint, owner, keys)
    results = []
    with snapshot(engine) as reader:
        heads = reader.all("SELECT id, name, size, root FROM audit_logs ORDER BY name")
        if log_name is not None:
            heads = [h for h in heads if h[1] == log_name]
            if not heads:
                raise LookupError(f"no audit log {log_name!r}")
        for log_id, name, size, root in heads:
            head_root = bytes(root) if root is not None else merkle.EMPTY_ROOT
            result = Result(name, int(size), head_root, partner=partner)
            log = Log(reader, log_id, name, int(size), head_root, keys, partner, deep, result)
            results.append(verify_log(log, checks))
    return results
