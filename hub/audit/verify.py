"""Recompute every log's tree from its stored entries and check it against what was signed.

One streaming pass per log, in O(log n) memory: the entries are read in index
order, 2**CHUNK_LEVEL at a time (an aligned complete subtree), hashed level by
level, and each chunk's root joins the compact range of the ones before it. A
thread reads the next chunk while this one is hashed. The root is compared with
every signed checkpoint as the pass reaches its size (inside a chunk too), and
with the log's head at the end.

What it finds, and where it names it:

- a deleted entry: the first index missing from the sequence;
- an entry beyond the head (inserted at the end): its index;
- a changed, reordered or inserted entry: the roots stop matching, and a second
  pass over the suspect range (from the last matching checkpoint) compares each
  recomputed leaf hash with the hash stored when the entry was appended, and
  reads the entry's own ``index`` and ``log`` fields: the first that differs is
  named. If the stored hashes were rewritten too, the first index after the
  last matching signed checkpoint is named;
- truncation below a signed checkpoint: the checkpoint's size and the first
  missing index;
- a checkpoint with a bad signature, from an unknown key, or of another log;
- with ``deep``: an entry whose columns (action, actor, organisation, target,
  time) differ from its hashed bytes. The default pass reads only the bytes the
  tree covers; the log pages filter on those bytes too (hub.audit.fields), so a
  column edited alone changes nothing they list. Comparing every entry's columns
  costs about as much as hashing it, hence not in the default pass.

The reads use one raw database connection in a read-only snapshot (SQLite: a
deferred transaction, so writers are not blocked; PostgreSQL: REPEATABLE READ
with a server-side cursor), so the log may keep growing while it is verified.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from hashlib import sha256
from operator import itemgetter
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from hub.audit import checkpoints, merkle, note, store
from hub.audit.entry import EntryError, decode_entry, format_time

FETCH = 5_000
#: Logs this big are folded by two processes (see _recompute).
PARALLEL_MIN = 1 << 16
#: Entries are read and hashed 2**CHUNK_LEVEL at a time: aligned complete subtrees.
CHUNK_LEVEL = 12


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


class _Reader:
    """Raw DB-API reads in one snapshot; ``%s`` placeholders on both databases."""

    def __init__(self, dbapi: Any, backend: str, engine: Engine | None = None):
        self.conn, self.backend, self._n = dbapi, backend, 0
        self.engine = engine  # for a second process to connect in the same snapshot

    def export_snapshot(self) -> str | None:
        """PostgreSQL: an id another connection can read this snapshot by."""
        if self.backend != "postgresql":
            return None
        return self.all("SELECT pg_export_snapshot()")[0][0]

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.backend == "sqlite" else sql

    def all(self, sql: str, params: tuple = ()) -> list[tuple]:
        # Binary results on PostgreSQL: a chunk of leaves is no hex text to decode.
        cursor = (
            self.conn.cursor(binary=True) if self.backend == "postgresql" else self.conn.cursor()
        )
        try:
            cursor.execute(self._sql(sql), params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        yield from itertools.chain.from_iterable(self.batches(sql, params))

    def batches(self, sql: str, params: tuple = (), size: int = 0) -> Iterator[list[tuple]]:
        """Rows in lists of ``size`` (FETCH by default); on PostgreSQL from a
        server-side cursor, so memory holds one list."""
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
                yield rows
        finally:
            cursor.close()

    def node(self, log_id: int) -> merkle.GetNode:
        def get(level: int, index: int) -> bytes:
            rows = self.all(
                'SELECT hash FROM audit_nodes WHERE log_id = %s AND level = %s AND "index" = %s',
                (log_id, level, index),
            )
            if not rows:
                raise merkle.ProofError(f"subtree ({level}, {index}) is not stored")
            return bytes(rows[0][0])

        return get


# A chunk of entries in one row, joined by 0x01 (no ORDER BY inside
# aggregates before SQLite 3.44: an ordered subquery).
_SQLITE_CHUNK = (
    "SELECT count(*), CAST(group_concat(leaf_input, x'01') AS BLOB) FROM (SELECT "
    'leaf_input FROM audit_entries WHERE log_id = %s AND "index" >= %s AND "index" < %s '
    'ORDER BY "index")'
)


@contextlib.contextmanager
def snapshot(engine: Engine, exported: str | None = None) -> Iterator[_Reader]:
    """A reader in a read-only snapshot; on PostgreSQL the ``exported`` one if given."""
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        if engine.dialect.name == "sqlite":
            # The engine's connections run with isolation_level=None: this BEGIN is ours,
            # deferred, so it is a read snapshot that does not take the write lock.
            dbapi.execute("BEGIN")
            reader = _Reader(dbapi, "sqlite", engine)
        else:
            dbapi.rollback()
            dbapi.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if exported is not None:  # takes no parameter: a quoted literal
                from psycopg import sql

                dbapi.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(exported))
            reader = _Reader(dbapi, "postgresql", engine)
        yield reader
    finally:
        with contextlib.suppress(Exception):
            dbapi.rollback()
        raw.close()


def logs(reader: _Reader) -> list[tuple[int, str, int, bytes | None]]:
    return [
        (row[0], row[1], int(row[2]), bytes(row[3]) if row[3] is not None else None)
        for row in reader.all("SELECT id, name, size, root FROM audit_logs ORDER BY name")
    ]


def _check_checkpoints(
    reader: _Reader, log_id: int, name: str, keys: dict[str, Ed25519PublicKey]
) -> tuple[list[tuple[int, bytes]], Problem | None]:
    """Signature, origin and columns of every stored checkpoint; returns (size, root) sorted."""
    found: list[tuple[int, bytes]] = []
    rows = reader.stream(
        "SELECT id, size, root, note FROM audit_checkpoints WHERE log_id = %s ORDER BY size, id",
        (log_id,),
    )
    for _id, size, root, text in rows:
        size, root = int(size), bytes(root)
        try:
            parsed = checkpoints.verify_note(text, name, keys)
        except note.NoteError as exc:
            return found, Problem(name, None, "checkpoint", f"checkpoint of size {size}: {exc}")
        if parsed.size != size or parsed.root != root:
            return found, Problem(
                name, None, "checkpoint", f"checkpoint of size {size}: columns differ from its note"
            )
        found.append((size, root))
    return found, None


def _diagnose(reader: _Reader, log_id: int, name: str, start: int, end: int, what: str) -> Problem:
    """The tree of size ``end`` does not match ``what`` (a signed checkpoint, the head)
    though it matched at ``start``: find the first entry in ``[start, end)`` that
    differs from what was appended."""
    return _first_bad(reader, log_id, name, start, end) or Problem(
        name,
        start,
        "rewritten",
        f"the tree does not match {what}, and the stored hashes were rewritten with it; "
        "first index that does not match",
    )


def _first_bad(reader: _Reader, log_id: int, name: str, start: int, end: int) -> Problem | None:
    """The first entry in ``[start, end)`` that is not what was appended (its bytes
    against the leaf hash stored then) or whose columns differ from its bytes."""
    rows = reader.stream(
        'SELECT e."index", e.leaf_input, n.hash, e.actor, e.action, e.organisation, '
        "e.target_type, e.target_id, e.created_at FROM audit_entries e "
        "LEFT JOIN audit_nodes n ON n.log_id = e.log_id AND n.level = 0 "
        'AND n."index" = e."index" '
        'WHERE e.log_id = %s AND e."index" >= %s AND e."index" < %s ORDER BY e."index"',
        (log_id, start, end),
    )
    for index, leaf, stored, *mirrors in rows:
        index, leaf = int(index), bytes(leaf)
        problem = _entry_problem(name, index, leaf, stored, mirrors)
        if problem is not None:
            with contextlib.suppress(Exception):
                rows.close()
            return problem
    return None


def _entry_problem(name: str, index: int, leaf: bytes, stored, mirrors: list) -> Problem | None:
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
    if sha256(b"\x00" + leaf).digest() != bytes(stored):
        return Problem(name, index, "changed", "entry was changed after it was appended")
    actor, action, organisation, target_type, target_id, created_at = mirrors
    if (actor, action, organisation, target_type, target_id) != (
        fields["actor"],
        fields["action"],
        fields["organisation"],
        fields["target_type"],
        fields["target_id"],
    ) or _time_text(created_at) != fields["time"]:
        return Problem(name, index, "changed", "entry's columns differ from its hashed bytes")
    return None


def _time_text(value) -> str:
    if isinstance(value, str):  # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff': read as it is
        return value.replace(" ", "T", 1) + "Z"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_time(value)


def verify_log(
    reader: _Reader,
    log_id: int,
    name: str,
    head_size: int,
    head_root: bytes | None,
    *,
    keys: dict[str, Ed25519PublicKey],
    partner: note.Checkpoint | None = None,
    deep: bool = False,
) -> Result:
    """Verify one log in one streaming pass (plus a diagnosis pass when it fails)."""
    result = Result(name, head_size, head_root or merkle.EMPTY_ROOT, partner=partner)
    signed, problem = _check_checkpoints(reader, log_id, name, keys)
    result.checkpoints = len(signed)
    if problem is not None:
        result.problem = problem
        return result
    # Every (size, root) the recomputed tree must meet, with what vouches for it.
    targets = [(size, root, f"the signed checkpoint of size {size}") for size, root in signed]
    if partner is not None:
        what = f"the partner's checkpoint of size {partner.size}"
        targets.append((partner.size, partner.root, what))
    targets.sort(key=lambda t: t[0])
    if targets and targets[-1][0] > head_size:
        count = _count(reader, log_id, head_size)
        result.problem = Problem(
            name,
            min(head_size, count),
            "truncated",
            f"{targets[-1][2]} covers more entries than the log's {head_size}; "
            "truncated below a signed checkpoint, first missing index",
        )
        return result
    targets.append((head_size, result.root, "the log's head"))
    for size, root, what in targets:
        if size == 0 and root != merkle.EMPTY_ROOT:
            result.problem = Problem(name, None, "head", f"{what} has a root for no entries")
            return result
    targets = [t for t in targets if t[0] > 0]

    problem = _recompute(reader, log_id, name, head_size, targets)
    if problem is not None:
        result.problem = problem
        return result
    stray = _stray(reader, log_id, head_size)
    if stray is not None:
        result.problem = (
            Problem(name, head_size, "beyond_head", "entry beyond the head")
            if stray >= head_size
            else Problem(name, stray, "moved", "entry carries a negative index")
        )
        return result
    # The stored subtrees serve proofs: they must give the same root.
    try:
        from_nodes = merkle.root_from_nodes(head_size, reader.node(log_id))
    except merkle.ProofError as exc:
        from_nodes, missing = None, str(exc)
    else:
        missing = ""
    if from_nodes != result.root:
        result.problem = _diagnose(reader, log_id, name, 0, head_size, "the stored subtrees")
        if result.problem.kind == "rewritten":
            result.problem = Problem(
                name, None, "head", f"the stored subtree hashes do not give the root {missing}"
            )
        return result
    if deep:
        for problem in _deep(reader, log_id, name, head_size):
            result.problem = problem
            return result
    if partner is not None and 0 < partner.size < head_size:
        proof = merkle.consistency_proof(partner.size, head_size, reader.node(log_id))
        merkle.verify_consistency(partner.size, head_size, proof, partner.root, result.root)
        result.notes.append(f"consistency proof {partner.size} -> {head_size} holds")
    return result


def _recompute(
    reader: _Reader, log_id: int, name: str, head_size: int, targets: list[tuple[int, bytes, str]]
) -> Problem | None:
    """Recompute the tree of the first ``head_size`` entries and meet every target
    (size, root, what vouches for it) in order; name the first problem.

    A big log is split at the largest power of two below its size: a forked process
    folds the left subtree while this one folds the rest (two cores hash at once),
    and the compact ranges are joined. Otherwise, or when the fork is not safe (more
    threads than this one) or fails, one process folds it all."""
    sizes = [size for size, _, _ in targets]
    split = 1 << (head_size - 1).bit_length() - 1 if head_size > 1 else 0
    collect = None
    if head_size >= PARALLEL_MIN and _shared_database(reader.engine) and _fork_is_safe():
        collect = _fork_fold(reader, log_id, name, split, [s for s in sizes if s <= split])
    if collect is None:
        split = 0
    try:
        ranges, gap, bad = _fold_range(reader, log_id, name, split, head_size, sizes)
    except BaseException:
        if collect is not None:
            collect()  # the child is waited for, whatever happens here
        raise
    if collect is not None:
        # The child's half; folded here after all if the child could not.
        left_ranges, left_gap, left_bad = collect() or _fold_range(
            reader, log_id, name, 0, split, sizes
        )
        bad = left_bad or bad  # the left half's nodes come first
        if left_gap is not None:
            ranges, gap = left_ranges, left_gap  # nothing past a gap counts
        else:
            # RFC 9162: past the largest power of two, the root is H(left root, rest).
            top = [_fold_root(left_ranges[split])]
            ranges = {**left_ranges, **{s: top + r for s, r in ranges.items()}}
    good = 0  # largest size whose root matched what vouches for it
    for size, root, what in targets:
        if size not in ranges:
            break  # past the gap
        if _fold_root(ranges[size]) != root:
            return _diagnose(reader, log_id, name, good, size, what)
        good = size
    if gap is not None:
        return gap
    return bad or _check_upper_nodes(reader, log_id, name, head_size)


def _node_problem(name: str, level: int, index: int, what: str) -> Problem:
    return Problem(
        name, None, "node", f"stored node (level {level}, index {index}) {what}; proofs use it"
    )


def _spans(start: int, count: int) -> list[tuple[int, int, int]]:
    """(level, first index, end index) of the complete subtrees inside the run of
    ``count`` leaves from ``start`` (aligned), as :func:`_levels` hashes them."""
    return [(lv, start >> lv, (start >> lv) + (count >> lv)) for lv in range(count.bit_length())]


def _node_rows(reader: _Reader, log_id: int, start: int, count: int) -> list[tuple]:
    """The stored nodes of the complete subtrees inside one chunk, in one query."""
    spans = _spans(start, count)
    if not spans:
        return []
    # One range read of the primary key per level (an OR of ranges made SQLite scan);
    # their order is not relied on: _check_nodes looks rows up when it differs.
    one = (
        'SELECT level, "index", hash FROM audit_nodes WHERE log_id = %s AND level = %s '
        'AND "index" >= %s AND "index" < %s'
    )
    params = tuple(v for span in spans for v in (log_id, *span))
    # Only placeholders are interpolated; the values travel as parameters.
    return reader.all(" UNION ALL ".join([one] * len(spans)), params)  # nosec B608


def _check_nodes(
    name: str, start: int, levels: list[list[bytes]], rows: list[tuple]
) -> Problem | None:
    """The stored nodes of one chunk's complete subtrees (levels 0 .. CHUNK_LEVEL)
    against the recomputed ``levels``; rows are looked up one by one only when
    the ordered comparison fails."""
    spans = _spans(start, len(levels[0]) if levels else 0)
    expected = [h for hashes in levels for h in hashes]
    if len(rows) == len(expected) and all(
        bytes(row[2]) == h for row, h in zip(rows, expected, strict=True)
    ):
        return None
    found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
    for lv, lo, hi in spans:
        for i in range(lo, hi):
            stored = found.get((lv, i))
            if stored is None:
                return _node_problem(name, lv, i, "is missing")
            if stored != levels[lv][i - lo]:
                return _node_problem(name, lv, i, "does not match the tree of the entries")
    return None


def _check_upper_nodes(reader: _Reader, log_id: int, name: str, size: int) -> Problem | None:
    """The stored nodes above CHUNK_LEVEL (one per 2**CHUNK_LEVEL entries or fewer),
    bottom-up: each must be the hash of its two stored children, which the level
    below has shown equal to the recomputed tree (level CHUNK_LEVEL: in the chunks)."""
    if size >> CHUNK_LEVEL + 1 == 0:
        return None
    rows = reader.all(
        'SELECT level, "index", hash FROM audit_nodes WHERE log_id = %s AND level >= %s',
        (log_id, CHUNK_LEVEL),
    )
    nodes = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
    level = CHUNK_LEVEL + 1
    while size >> level:
        for i in range(size >> level):
            left, right = nodes.get((level - 1, 2 * i)), nodes.get((level - 1, 2 * i + 1))
            stored = nodes.get((level, i))
            if stored is None or left is None or right is None:
                return _node_problem(name, level, i, "is missing")
            if stored != sha256(b"\x01" + left + right).digest():
                return _node_problem(name, level, i, "does not match the tree of the entries")
        level += 1
    return None


def _fold_root(nodes: list[bytes]) -> bytes:
    """The root over subtree roots, folded from the right (each node covering at
    least as many entries as all those after it)."""
    h = nodes[-1]
    for left in reversed(nodes[:-1]):
        h = sha256(b"\x01" + left + h).digest()
    return h


def _fold_range(
    reader: _Reader, log_id: int, name: str, lo: int, hi: int, sizes: list[int]
) -> tuple[dict[int, list[bytes]], Problem | None, Problem | None]:
    """Fold entries ``lo .. hi - 1`` (``lo`` a multiple of every subtree in the
    range: 0 or a power of two above ``hi - lo``). Returns the compact range of
    ``lo .. size - 1`` at each of ``sizes`` inside the range and at ``hi``, and the
    problem that cut the run short (a gap), if any, and the first stored node of
    the chunks' subtrees that differs from the recomputed one. A thread reads the next chunk
    while this one is hashed: the database (SQLite's C code without the GIL, or
    the PostgreSQL server) then works beside the hashing rather than before it."""
    want = sorted({s for s in sizes if lo < s <= hi} | {hi})
    ranges: dict[int, list[bytes]] = {}
    stack: list[bytes] = []  # compact range of lo .. start - 1
    step = 1 << CHUNK_LEVEL
    w = 0
    bad: Problem | None = None
    with ThreadPoolExecutor(1) as ahead:
        chunks = _chunks(reader, log_id, name, lo, hi)
        pending = ahead.submit(next, chunks, None)
        try:
            for start in range(lo, hi, step):
                leaves, gap, node_rows = pending.result()
                pending = ahead.submit(next, chunks, None)
                levels = _levels(leaves)
                while w < len(want) and want[w] <= start + len(leaves):
                    inside = store.compact_range(want[w] - start)
                    ranges[want[w]] = stack + [levels[lv][i] for lv, i in inside]
                    w += 1
                if gap is not None:
                    return ranges, gap, bad
                if bad is None:
                    bad = _check_nodes(name, start, levels, node_rows)
                if len(leaves) == step:  # a complete aligned subtree: onto the compact range
                    h, n = levels[-1][0], (start - lo) >> CHUNK_LEVEL
                    while n & 1:
                        h = sha256(b"\x01" + stack.pop() + h).digest()
                        n >>= 1
                    stack.append(h)
            return ranges, None, bad
        finally:  # the reader is free again once the chunk being read has come in
            futures.wait([pending])
            chunks.close()


def _shared_database(engine: Engine | None) -> bool:
    """Whether another process's connection sees the same database (not so for an
    in-memory SQLite one)."""
    if engine is None:
        return False
    url = engine.url
    return url.get_backend_name() != "sqlite" or (
        url.database not in (None, "", ":memory:") and "mode=memory" not in str(url)
    )


def _fork_is_safe() -> bool:
    """Forking copies only the calling thread: safe while it is the only one."""
    return threading.active_count() == 1 and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _fork_fold(
    reader: _Reader, log_id: int, name: str, split: int, sizes: list[int]
) -> Callable[[], tuple[dict[int, list[bytes]], Problem | None] | None] | None:
    """Start ``_fold_range(0, split)`` in a forked process, on its own connection in
    the same snapshot (PostgreSQL: an exported snapshot; SQLite: its entries below
    the head never change). Returns what waits for its outcome (None if the child
    failed), or None if no child started."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    snapshot_id = reader.export_snapshot()
    child = ctx.Process(
        target=_child_fold,
        args=(send, reader.engine, snapshot_id, log_id, name, split, sizes),
        daemon=True,
    )
    try:
        child.start()
    except OSError:
        return None
    finally:
        send.close()

    def collect() -> tuple[dict[int, list[bytes]], Problem | None, Problem | None] | None:
        try:
            return receive.recv()
        except EOFError:
            return None
        finally:
            receive.close()
            child.join()

    return collect


def _child_fold(send, engine: Engine, snapshot_id, log_id, name, split, sizes) -> None:
    outcome = None
    try:
        engine.dispose(close=False)  # the parent's connections stay the parent's
        with snapshot(engine, snapshot_id) as reader:
            outcome = _fold_range(reader, log_id, name, 0, split, sizes)
    finally:
        send.send(outcome)
        send.close()


def _chunks(
    reader: _Reader, log_id: int, name: str, lo: int, hi: int
) -> Iterator[tuple[list[bytes], Problem | None, list[tuple]]]:
    """Entries ``lo .. hi - 1`` in chunks of ``2**CHUNK_LEVEL``, each chunk with the
    problem that cuts it short (a gap, a duplicate), if any.

    PostgreSQL streams the rows from one server-side cursor, a chunk per fetch.
    SQLite joins a chunk into one value (its C code then runs without the GIL, beside
    the hashing): see :func:`_sqlite_chunk`."""
    step = 1 << CHUNK_LEVEL
    if reader.backend == "sqlite":
        for start in range(lo, hi, step):
            yield _with_nodes(
                reader,
                log_id,
                start,
                _sqlite_chunk(reader, log_id, name, start, min(step, hi - start)),
            )
        return
    rows = reader.batches(
        'SELECT "index", leaf_input FROM audit_entries WHERE log_id = %s AND "index" >= %s '
        'AND "index" < %s ORDER BY "index"',
        (log_id, lo, hi),
        size=step,
    )
    try:
        for start in range(lo, hi, step):
            run = _run(next(rows, []), name, start, min(step, hi - start))
            yield _with_nodes(reader, log_id, start, run)
    finally:
        rows.close()


def _with_nodes(
    reader: _Reader, log_id: int, start: int, run: tuple[list[bytes], Problem | None]
) -> tuple[list[bytes], Problem | None, list[tuple]]:
    """A chunk with its stored nodes (read here, in the read-ahead thread)."""
    leaves, gap = run
    return leaves, gap, [] if gap is not None else _node_rows(reader, log_id, start, len(leaves))


def _run(rows: list[tuple], name: str, start: int, want: int) -> tuple[list[bytes], Problem | None]:
    """Rows ``(index, leaf)`` expected to be ``start .. start + want - 1``: their
    entries up to the first that is not, and the problem there."""
    # Indexes are unique (a constraint): the run is whole when its ends are right.
    if len(rows) == want and rows[0][0] == start and rows[-1][0] == start + want - 1:
        return list(map(itemgetter(1), rows)), None
    indexes = list(map(itemgetter(0), rows))
    n = next((k for k, index in enumerate(indexes) if index != start + k), len(indexes))
    leaves = [bytes(leaf) for _, leaf in rows[:n]]
    if n < len(indexes) and indexes[n] < start + n:
        return leaves, Problem(name, indexes[n], "moved", "two entries carry this index")
    return leaves, Problem(name, start + n, "missing", "entry is missing")


def _sqlite_chunk(
    reader: _Reader, log_id: int, name: str, start: int, want: int
) -> tuple[list[bytes], Problem | None]:
    """One chunk from one row that joins its entries with ``0x01`` (canonical JSON
    never holds a raw control byte): split, it gives them with no Python object per
    row. When the count or the split does not come out at ``want`` (a gap, a damaged
    entry holding a control byte), the rows are read."""
    ((count, joined),) = reader.all(_SQLITE_CHUNK, (log_id, start, start + want))
    leaves = joined.split(b"\x01") if joined is not None else []
    if count == want and len(leaves) == want:
        return leaves, None
    rows = reader.all(
        'SELECT "index", leaf_input FROM audit_entries WHERE log_id = %s AND "index" >= %s '
        'AND "index" < %s ORDER BY "index"',
        (log_id, start, start + want),
    )
    return _run(rows, name, start, want)


_digest = type(sha256()).digest
_join = b"".join


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree of a run of leaves, level by level (``levels[L][i]``
    covers leaves ``i * 2**L ..``). The hot path of verify: each level is hashed by
    ``map`` over C functions, so no Python bytecode runs per hash."""
    level = list(map(_digest, map(sha256, map(b"\x00".__add__, leaves))))
    levels = [level]
    while len(level) > 1:
        # Neighbours paired; an odd last one is no complete subtree yet and drops out.
        pairs = iter(level)
        joined = map(b"\x01".__add__, map(_join, zip(pairs, pairs, strict=False)))
        level = list(map(_digest, map(sha256, joined)))
        levels.append(level)
    return levels


def _stray(reader: _Reader, log_id: int, head_size: int) -> int | None:
    """The index of an entry outside ``0 .. head_size - 1``, if any."""
    for sql in (
        'SELECT min("index") FROM audit_entries WHERE log_id = %s AND "index" >= %s',
        'SELECT max("index") FROM audit_entries WHERE log_id = %s AND "index" < %s',
    ):
        ((index,),) = reader.all(sql, (log_id, head_size if "min" in sql else 0))
        if index is not None:
            return int(index)
    return None


def _deep(reader: _Reader, log_id: int, name: str, size: int) -> Iterator[Problem]:
    """Every entry decoded and checked against its stored hash and mirror columns."""
    problem = _first_bad(reader, log_id, name, 0, size)
    if problem is not None:
        yield problem


def _count(reader: _Reader, log_id: int, head_size: int) -> int:
    rows = reader.all(
        'SELECT COUNT(*) FROM audit_entries WHERE log_id = %s AND "index" < %s',
        (log_id, head_size),
    )
    return int(rows[0][0])


def verify(
    engine: Engine,
    *,
    log_name: str | None = None,
    partner_checkpoint: str | None = None,
    deep: bool = False,
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
        heads = logs(reader)
        if log_name is not None:
            heads = [h for h in heads if h[1] == log_name]
            if not heads:
                raise LookupError(f"no audit log {log_name!r}")
        for log_id, name, size, root in heads:
            results.append(
                verify_log(reader, log_id, name, size, root, keys=keys, partner=partner, deep=deep)
            )
    return results
