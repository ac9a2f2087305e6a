"""Time `hub import exchanges` on a fresh database: N generated rows, one transaction.

    .venv/bin/python bench/import_bench.py --rows 2000
    .venv/bin/python bench/import_bench.py --rows 5000 \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/hub_import_bench

A PostgreSQL database named in --url is dropped and created afresh (never point
it at a database you keep). The script stands alone: it needs only the hub package.

Each row goes through exchanges.send (validated, sealed with HPKE, audited in
the agreement's Merkle log) exactly as a page or the API would; the script
prints rows per second and what 100 000 rows would take at that rate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = (
    "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
    "credibility,handling,handling_note,sent_at,case,in_reply_to,sender\n"
)
KINDS = ("request", "alert", "case_referral", "meeting", "periodic_report")
START = datetime(2021, 1, 1, 8, 0)
FIVE_YEARS = timedelta(days=5 * 365)


def app_for(url: str, tmp: Path):
    from hub import create_app
    from hub.config import Settings

    settings = Settings.from_env(
        {
            "database_url": url,
            "instance_path": str(tmp / "instance"),
            "secret_key": "bench-secret-key-not-for-production-0123456789",
            "keys_dir": str(tmp / "keys"),
            "key_passphrase": "bench",
        }
    )
    return create_app(settings)


def fresh_postgres(url: str) -> None:
    """Drop and create the benchmark's own PostgreSQL database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name = target.database.replace('"', '""')
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def write_file(path: Path, rows: int, mix: str = "history") -> None:
    """``sent``: every row sent by QB (five kinds). ``history``: what a BLO's
    spreadsheets hold, in date order — of every five rows, a request from QB, an
    alert from QB, an alert received from the partner, a meeting or report record,
    and the partner's response to the request (received; it answers it)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            agreement, partner = ("QB-KM-MOU", "KM") if (i // 5) % 3 else ("QB-SV-MOU", "SV")
            # Spread evenly over five years from 2021, in date order.
            at = (START + i * (FIVE_YEARS / rows)).strftime("%Y-%m-%dT%H:%M")
            sender, recipient, reply, language = "", partner, "", "vi"
            if mix == "sent":
                kind = KINDS[i % len(KINDS)]
                agreement, recipient = ("QB-KM-MOU", "KM") if i % 3 else ("QB-SV-MOU", "SV")
            else:
                kind = ("request", "alert", "alert", "meeting", "response")[i % 5]
                if i % 5 in (2, 4):
                    sender, recipient, language = partner, "QB", "lo"
                if i % 5 == 4:
                    reply = f"r{i - 4}"
            out.write(
                f"r{i},{agreement},{recipient},{kind},Trao đổi số {i} về tuyến Cha Lo,"
                f'"Nội dung {i}: xe tải biển số 73C-{i:05d} qua cửa khẩu.",{language},'
                f"confidential,B,2,H0,,{at},,{reply},{sender}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--url", default=None, help="database URL (default: a temp SQLite)")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument(
        "--mix",
        choices=("history", "sent"),
        default="history",
        help="history: 40%% received, 20%% responses (default); sent: all sent by QB",
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the import run")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hub-import-bench-"))
    url = args.url or f"sqlite:///{tmp / 'hub.sqlite3'}"
    if url.startswith("postgresql"):
        fresh_postgres(url)
    app = app_for(url, tmp)
    with app.app_context():
        from sqlalchemy import select

        from hub.cli.keys import make_missing_keys
        from hub.cli.setup import ensure_demo_accounts, initialise
        from hub.extensions import db
        from hub.models import User
        from hub.operations import imports
        from hub.operations.actor import Actor

        initialise()
        ensure_demo_accounts("bench-password-0123")
        # As `hub init` does: keys exist before any import (Argon2 is not the import's cost).
        make_missing_keys()
        actor = Actor.for_user(db.session.scalar(select(User).where(User.username == "qb.officer")))
        path = tmp / "exchanges.csv"
        write_file(path, args.rows, args.mix)
        started = time.perf_counter()
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            report = profiler.runcall(imports.import_exchanges, actor, path, dry_run=args.dry_run)
            profiler.dump_stats(args.profile)
        else:
            report = imports.import_exchanges(actor, path, dry_run=args.dry_run)
        elapsed = time.perf_counter() - started
    assert report.ok, report.errors[:5]
    rate = args.rows / elapsed
    backend = url.split(":", 1)[0]
    print(
        f"{backend} ({args.mix}): {args.rows} exchanges in {elapsed:.1f} s = {rate:.0f} rows/s;"
        f" 100k would take {100_000 / rate / 60:.1f} min (target < 5 min)"
    )


if __name__ == "__main__":
    main()
