"""Audit log benchmark: appends, verification of a 1M-entry log, proofs at 1M.

    .venv/bin/python bench/bench_audit.py                       # SQLite (temporary file)
    .venv/bin/python bench/bench_audit.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints, in one run:

1. appends per second to one agreement's log through ``hub.audit.record`` (one
   transaction per append, as operations do), next to the same rows inserted
   plainly into a table without tree or lock, and the difference per append;
2. verification of a 100k- and a 1M-entry log in entries per second, the fast
   path (``hub.audit.verify_fast``, what ``hub audit verify`` runs) and the
   reference (``hub.audit.verify``), next to raw ``hashlib.sha256`` over the same
   leaf bytes, with each one's peak traced memory (flat: they stream) and the
   machine's load average;
3. inclusion and consistency proof times at 1M entries (median and p99).

The big log is generated in bulk (same bytes, nodes and head as appends would
make, checked by verify itself) because a million separate transactions would
only measure the disk. See bench/README.md for figures and how to reproduce.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import create_app  # noqa: E402
from hub.audit import merkle, store, verify, verify_fast  # noqa: E402
from hub.audit.entry import encode_entry  # noqa: E402
from hub.config import Settings  # noqa: E402

BIG = "BENCH-1M"
LOG = "QB-KM-MOU"
ACTIONS = ("exchange_sent", "exchange_acknowledged", "payload_opened", "request_answered")


def _app(url: str, tmp: Path):
    settings = Settings.from_env(
        {
            "env": "development",
            "instance_path": str(tmp / "instance"),
            "database_url": url,
            "secret_key": "bench-secret-key-not-for-production-0123456789",
            "keys_dir": str(tmp / "keys"),
            "key_passphrase": "bench passphrase",
        }
    )
    app = create_app(settings)
    with app.app_context():
        from hub.cli.setup import initialise

        initialise()
    return app


def _entry(name: str, index: int, when: datetime) -> tuple[bytes, tuple]:
    action = ACTIONS[index % len(ACTIONS)]
    target = str(uuid.UUID(int=index))
    leaf = encode_entry(
        log=name,
        index=index,
        time=when,
        actor="km.officer",
        organisation="KM",
        action=action,
        target_type="exchange",
        target_id=target,
        details={"payload_sha256": hashlib.sha256(target.encode()).hexdigest(), "key_version": 1},
    )
    return leaf, ("km.officer", "KM", action, "exchange", target)


def bench_appends(app, n: int) -> dict:
    from hub import audit
    from hub.extensions import db

    with app.app_context():
        db.session.execute(
            text(
                "CREATE TABLE bench_plain (id INTEGER PRIMARY KEY, log_id INTEGER, idx BIGINT, "
                "created_at TIMESTAMP, actor VARCHAR(64), organisation VARCHAR(16), "
                "action VARCHAR(48), target_type VARCHAR(32), target_id VARCHAR(64), "
                "leaf_input BYTEA)".replace(
                    "BYTEA", "BLOB" if db.engine.dialect.name == "sqlite" else "BYTEA"
                )
            )
        )
        db.session.commit()
        now = datetime.now(UTC)
        rows = [_entry(LOG, i, now) for i in range(n)]
        insert = text(
            "INSERT INTO bench_plain (id, log_id, idx, created_at, actor, organisation, action, "
            "target_type, target_id, leaf_input) VALUES (:id, 1, :i, :t, :a, :o, :x, :tt, :ti, :l)"
        )

        def plain(i: int) -> None:
            leaf, (a, o, x, tt, ti) = rows[i]
            db.session.execute(
                insert,
                {"id": i, "i": i, "t": now, "a": a, "o": o, "x": x, "tt": tt, "ti": ti, "l": leaf},
            )

        def audited(i: int) -> None:
            _, (_a, _o, x, tt, ti) = rows[i]
            audit.record(
                x, actor="km.officer", organisation="KM", target_type=tt, target_id=ti, logs=[LOG]
            )

        # Timed interleaved in blocks, so a burst of disk or CPU contention hits both alike.
        timings = {"plain": 0.0, "audited": 0.0}
        block = 100
        for start in range(0, n, block):
            for kind, step in (("plain", plain), ("audited", audited)):
                t = time.perf_counter()
                for i in range(start, min(n, start + block)):
                    step(i)
                    db.session.commit()
                timings[kind] += time.perf_counter() - t
        db.session.remove()
    per_plain = timings["plain"] / n * 1000
    per_audited = timings["audited"] / n * 1000
    return {
        "appends_per_s": n / timings["audited"],
        "plain_per_s": n / timings["plain"],
        "append_ms": per_audited,
        "plain_ms": per_plain,
        "overhead_ms": per_audited - per_plain,
    }


def _bulk_log(
    app, name: str, start: int, count: int, tree: merkle.StreamingRoot, kept: list[bytes]
) -> None:
    """Append ``count`` entries in bulk, keeping their leaf bytes in ``kept`` (for the
    raw hashing reference, timed right beside verify)."""
    from hub.extensions import db

    when = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        engine = db.engine
        sqlite = engine.dialect.name == "sqlite"
        raw = engine.raw_connection()
        conn = raw.driver_connection
        try:
            cur = conn.cursor()
            p = "?" if sqlite else "%s"
            if sqlite:
                cur.execute("BEGIN")
            if start == 0:
                cur.execute(
                    f"INSERT INTO audit_logs (name, size, updated_at) VALUES ({p}, 0, {p})",
                    (name, "2026-01-01 00:00:00.000000" if sqlite else when.replace(tzinfo=None)),
                )
            cur.execute(f"SELECT id FROM audit_logs WHERE name = {p}", (name,))
            log_id = cur.fetchone()[0]
            batch = 50_000
            for lo in range(start, start + count, batch):
                hi = min(start + count, lo + batch)
                entries, nodes, leaves = [], [], []
                for i in range(lo, hi):
                    moment = when + timedelta(seconds=i)
                    leaf, (a, o, x, tt, ti) = _entry(name, i, moment)
                    leaves.append(leaf)
                    stamp = moment.replace(tzinfo=None)
                    entries.append(
                        (
                            log_id,
                            i,
                            stamp.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else stamp,
                            a,
                            o,
                            x,
                            tt,
                            ti,
                            leaf,
                        )
                    )
                    for level, index, h in tree.push(merkle.leaf_hash(leaf)):
                        nodes.append((log_id, level, index, h))
                kept.extend(leaves)
                columns = (
                    'log_id, "index", created_at, actor, organisation, action, target_type, '
                    "target_id, leaf_input"
                )
                node_columns = 'log_id, level, "index", hash'
                if sqlite:
                    cur.executemany(
                        f"INSERT INTO audit_entries ({columns}) VALUES ({', '.join('?' * 9)})",
                        entries,
                    )
                    insert_nodes = f"INSERT INTO audit_nodes ({node_columns}) VALUES (?, ?, ?, ?)"
                    cur.executemany(insert_nodes, nodes)
                else:
                    with cur.copy(f"COPY audit_entries ({columns}) FROM STDIN") as copy:
                        for row in entries:
                            copy.write_row(row)
                    with cur.copy(
                        'COPY audit_nodes (log_id, level, "index", hash) FROM STDIN'
                    ) as copy:
                        for row in nodes:
                            copy.write_row(row)
            cur.execute(
                f"UPDATE audit_logs SET size = {p}, root = {p} WHERE id = {p}",
                (tree.size, tree.root(), log_id),
            )
            conn.commit()
            if not sqlite:
                # As a live log's rows would be: visible to all (hint bits set), analysed.
                conn.autocommit = True
                cur.execute("VACUUM ANALYZE audit_entries")
                cur.execute("VACUUM ANALYZE audit_nodes")
                conn.autocommit = False
        finally:
            raw.close()


def bench_verify(app, name: str, leaves: list[bytes]) -> dict:
    """Raw hashing, the fast verify and the reference one alternated three times, best
    of each: load on a shared machine then hits all alike."""
    from hub.extensions import db

    ways = {"fast": verify_fast.verify_logs, "reference": verify.verify}
    with app.app_context():
        seconds = dict.fromkeys(ways, float("inf"))
        raw_seconds = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for leaf in leaves:
                hashlib.sha256(leaf).digest()
            raw_seconds = min(raw_seconds, time.perf_counter() - t)
            for way, run in ways.items():
                t = time.perf_counter()
                [result] = run(db.engine, log_name=name)
                seconds[way] = min(seconds[way], time.perf_counter() - t)
                assert result.ok, result.line()
        # The floor reading sets: the same chunks the fast verify reads, nothing hashed.
        fetch_seconds = float("inf")
        with verify.snapshot(db.engine) as reader:
            [(log_id, size)] = reader.all(
                "SELECT id, size FROM audit_logs WHERE name = %s", (name,)
            )
            for _ in range(2):
                t = time.perf_counter()
                for _chunk in verify_fast._chunks(reader, log_id, name, 0, size):
                    pass
                fetch_seconds = min(fetch_seconds, time.perf_counter() - t)
        peak = {}
        for way, run in ways.items():
            tracemalloc.start()
            run(db.engine, log_name=name)
            peak[way] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    forked = result.size >= verify_fast.PARALLEL_MIN and verify_fast._fork_is_safe()
    return {
        "processes": 2 if forked else 1,
        "entries": result.size,
        "seconds": seconds,
        "rate": {way: result.size / s for way, s in seconds.items()},
        "raw_rate": len(leaves) / raw_seconds,
        "fetch_rate": result.size / fetch_seconds,
        "peak": peak,
    }


def bench_proofs(app, name: str, samples: int = 200) -> dict:
    from hub.extensions import db

    rng = random.Random(7)
    inclusion, consistency = [], []
    with app.app_context():
        session = db.session
        log_id, size, root = session.execute(
            text("SELECT id, size, root FROM audit_logs WHERE name = :n"), {"n": name}
        ).one()
        root = bytes(root)
        for _ in range(samples):
            index = rng.randrange(size)
            t = time.perf_counter()
            path = store.inclusion(session, log_id, index, size)
            leaf = store.leaf_hash_at(session, log_id, index)
            inclusion.append(time.perf_counter() - t)
            merkle.verify_inclusion(leaf, index, size, path, root)
            first = rng.randrange(1, size)
            t = time.perf_counter()
            proof = store.consistency(session, log_id, first, size)
            old = store.root_at(session, log_id, first)
            consistency.append(time.perf_counter() - t)
            merkle.verify_consistency(first, size, proof, old, root)
        session.commit()

    def summary(values: list[float]) -> str:
        values = sorted(values)
        p99 = values[int(len(values) * 0.99) - 1]
        return f"median {statistics.median(values) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"

    return {"inclusion": summary(inclusion), "consistency": summary(consistency)}


def _load() -> str:
    """The machine's 1-minute load average (it is shared: say it with each figure)."""
    return f"{os.getloadavg()[0]:.2f}"


def run(url: str, tmp: Path, entries: int, appends: int) -> None:
    app = _app(url, tmp)
    backend = make_url(url).get_backend_name()
    print(f"== {backend} ==")
    a = bench_appends(app, appends)
    print(
        f"appends to one log: {a['appends_per_s']:.0f}/s ({a['append_ms']:.2f} ms each, "
        f"own transaction); plain inserts of the same rows: {a['plain_per_s']:.0f}/s "
        f"({a['plain_ms']:.2f} ms); the audit costs {a['overhead_ms']:.2f} ms per change"
    )
    tree = merkle.StreamingRoot()
    done, leaves = 0, []
    for target in (min(100_000, entries), entries):
        if target <= done:
            continue
        t = time.perf_counter()
        _bulk_log(app, BIG, done, target - done, tree, leaves)
        done = target
        print(f"generated {done:,} entries in bulk ({time.perf_counter() - t:.1f} s)")
        v = bench_verify(app, BIG, leaves)
        reference = v["raw_rate"]
        print(
            f"raw sha256 over the {v['entries']:,} leaf bytes: {reference:,.0f}/s; "
            f"reading the fast path's chunks alone: {v['fetch_rate']:,.0f}/s; load {_load()}"
        )
        for way in ("fast", "reference"):
            procs = v["processes"] if way == "fast" else 1
            print(
                f"verify {way} ({procs} process{'es' if procs > 1 else ''}): "
                f"{v['rate'][way]:,.0f} entries/s ({v['entries'] / v['rate'][way]:.2f} s); "
                f"ratio {v['rate'][way] / reference:.2f} (target >= 0.25); "
                f"peak traced memory {v['peak'][way] / 1e6:.1f} MB"
            )
    del leaves
    p = bench_proofs(app, BIG)
    print(f"inclusion proof at {done:,}: {p['inclusion']} (target < 10 ms)")
    print(f"consistency proof at {done:,}: {p['consistency']} (target < 10 ms)")
    from hub.extensions import db

    with app.app_context():
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL: a scratch database is made")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if not args.postgres:
            run(f"sqlite:///{tmp / 'bench.sqlite3'}", tmp, args.entries, args.appends)
            return
        server = make_url(args.postgres)
        name = f"hub_bench_audit_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(server.set(database=name).render_as_string(False), tmp, args.entries, args.appends)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
