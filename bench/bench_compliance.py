"""Compliance evaluation at scale: one agreement over the 2021–2025 programme period.

    .venv/bin/python bench/bench_compliance.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/bench_compliance.py --only sqlite --repeat 5
    .venv/bin/python bench/bench_compliance.py --from 2024-10-01 --to 2024-12-31   # a quarter

Fills each database with bench/generate.py (1,000,000 exchanges over five
years between the parties of four agreements; QB-KM-MOU, evaluated here, holds
about 40 %) unless it already holds exchanges, then times:

- evaluate: hub.compliance.evaluate.evaluate() of the agreement, as the
  dashboard, the API and the exports call it (ORM, SQL, Python together);
- bare SQL: exactly the statements that evaluation sent, captured with their
  parameters and replayed on a raw DB-API cursor, fetching every row.

Bars (issue 7): evaluate under 1 s, and within 2x of the bare SQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate import app_for, generate

DEFAULT_SQLITE = "sqlite:////tmp/hub-compliance-bench.sqlite3"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/hub_compliance_bench"


def _ensure_postgres_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(
        target.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _vacuum(url: str) -> None:
    """What autovacuum does soon after a bulk load: statistics, and the visibility map
    that lets index-only scans skip the table."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE exchanges"))
    engine.dispose()


def _has_exchanges(url: str) -> bool:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "exchanges" not in inspect(conn).get_table_names():
                return False
            return conn.execute(text("SELECT 1 FROM exchanges LIMIT 1")).first() is not None
    finally:
        engine.dispose()


def measure(url: str, code: str, repeat: int, rows: int, period=None) -> dict:
    from sqlalchemy import event, func, select

    from hub.compliance import periods
    from hub.compliance.evaluate import evaluate
    from hub.extensions import db
    from hub.models import Agreement, Exchange

    if url.startswith("postgresql"):
        _ensure_postgres_database(url)
    if not _has_exchanges(url):
        print(f"  generating {rows:,} exchanges ...", flush=True)
        print("  ", generate(url, cases=10_000, exchanges=rows), flush=True)
    if url.startswith("postgresql"):
        _vacuum(url)
    app = app_for(url)
    period = period or periods.programme()
    with app.app_context():
        agreement = db.session.scalar(select(Agreement).where(Agreement.code == code))
        in_agreement = db.session.scalar(
            select(func.count()).where(Exchange.agreement_id == agreement.id)
        )
        total = db.session.scalar(select(func.count()).select_from(Exchange))
        db.session.commit()

        def run_evaluate():
            db.session.expire_all()
            started, cpu = time.perf_counter(), time.process_time()
            report = evaluate(agreement, period)
            db.session.commit()
            cpu_times.append(time.process_time() - cpu)
            return time.perf_counter() - started, report

        cpu_times: list[float] = []

        run_evaluate()  # warm the caches, as a running hub's are
        captured: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", capture)
        _took, report = run_evaluate()
        event.remove(db.engine, "before_cursor_execute", capture)
        cpu_times.clear()
        evaluations = [run_evaluate()[0] for _ in range(repeat)]
        evaluate_cpu = statistics.median(cpu_times)

        raw = db.engine.raw_connection()
        if db.engine.dialect.name == "postgresql":
            # psycopg prepares a statement run five times and PostgreSQL may then
            # pick a generic plan; the bare run shall plan each query as given.
            raw.driver_connection.prepare_threshold = None
        try:
            cursor = raw.cursor()

            def run_bare():
                started, cpu = time.perf_counter(), time.process_time()
                for statement, parameters in captured:
                    cursor.execute(statement, parameters)
                    if cursor.description is not None:
                        cursor.fetchall()
                raw.commit()
                bare_cpu.append(time.process_time() - cpu)
                return time.perf_counter() - started

            bare_cpu: list[float] = []
            run_bare()
            bare_cpu.clear()
            bare = [run_bare() for _ in range(repeat)]
        finally:
            raw.close()
        db.engine.dispose()
    return {
        "backend": "PostgreSQL" if url.startswith("postgresql") else "SQLite",
        "total": total,
        "rows": in_agreement,
        "statements": len(captured),
        "evaluate": statistics.median(evaluations),
        "bare": statistics.median(bare),
        "evaluate_cpu": evaluate_cpu,
        "bare_cpu": statistics.median(bare_cpu),
        "states": {o.kind: o.state for o in report.outcomes},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", default=DEFAULT_SQLITE)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--agreement", default="QB-KM-MOU")
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--from", dest="first", help="first day (ISO); default 2021-01-01")
    parser.add_argument("--to", dest="last", help="last day (ISO); default 2025-12-31")
    args = parser.parse_args()
    from datetime import date

    from hub.compliance import periods

    period = periods.programme()
    if args.first or args.last:
        period = periods.custom(
            date.fromisoformat(args.first or "2021-01-01"),
            date.fromisoformat(args.last or "2025-12-31"),
        )
    urls = [
        u
        for u, name in ((args.sqlite, "sqlite"), (args.postgres, "postgresql"))
        if args.only in (None, name)
    ]
    results = []
    for url in urls:
        print(f"{url}", flush=True)
        results.append(measure(url, args.agreement, args.repeat, args.exchanges, period))
    print()
    print(
        f"{'database':<11} {'exchanges':>10} {'in agreement':>13} {'queries':>8} "
        f"{'evaluate':>10} {'bare SQL':>10} {'ratio':>6}  {'cpu eval/bare':>15}  "
        "bars (<1 s, <=2x)"
    )
    for r in results:
        ratio = r["evaluate"] / r["bare"] if r["bare"] else float("inf")
        ok = ("yes" if r["evaluate"] < 1 else "NO") + " / " + ("yes" if ratio <= 2 else "NO")
        cpu = f"{r['evaluate_cpu']:.3f}/{r['bare_cpu']:.3f}s"
        print(
            f"{r['backend']:<11} {r['total']:>10,} {r['rows']:>13,} {r['statements']:>8} "
            f"{r['evaluate']:>9.3f}s {r['bare']:>9.3f}s {ratio:>6.2f}  {cpu:>15}  {ok}"
        )
    print(f"(medians of {args.repeat} runs after one warm-up; period {period.start}..{period.end};")
    print(" cpu = this process's CPU time: all of SQLite's work, only the client's for PostgreSQL;")
    print(f" load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
