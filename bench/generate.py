"""Fill a hub database with cases and exchanges at scale, for bench_exchanges.py.

    .venv/bin/python bench/generate.py sqlite:////tmp/hub-bench.sqlite3
    .venv/bin/python bench/generate.py postgresql+psycopg://postgres@127.0.0.1:5432/hub_bench \
        --cases 100000 --exchanges 1000000

The database is created and migrated (`hub init`) with the demo accounts, then
filled in bulk (COPY on PostgreSQL, executemany in one transaction on SQLite):
cases owned by the three organisations with a partner involved and their
agreement linked, and exchanges between the parties of four agreements spread
over five years (2021-2025), a third linked to a case.  Kinds, answer delays
and open/overdue shares look like real work.  Only plaintext metadata is
generated (what lists and filters read); payloads stay NULL.  Same seed, same rows.
Then ANALYZE (VACUUM ANALYZE on PostgreSQL, as autovacuum would do).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2021, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = (END - START).total_seconds()
AGREEMENTS = ("QB-KM-MOU", "QB-SV-MOU", "VN-LA-BILATERAL", "PLAN-42-2023")
KINDS = [
    ("request", 30),
    ("response", 22),
    ("alert", 20),
    ("case_referral", 8),
    ("joint_operation", 4),
    ("meeting", 6),
    ("periodic_report", 8),
    ("permission_request", 2),
]
SUBJECTS = [
    "Xác minh chủ xe tải biển số {n}",
    "Đề nghị cung cấp thông tin đối tượng tại cửa khẩu Cha Lo {n}",
    "Cảnh báo nhóm vận chuyển ma túy đá qua Quảng Bình {n}",
    "ຂໍຂໍ້ມູນ ກ່ຽວກັບລົດບັນທຸກ {n} ແຂວງຄຳມ່ວນ",
    "ແຈ້ງເຕືອນ ການລັກລອບຂົນສົ່ງຢາບ້າ {n}",
    "Biên bản giao ban liên lạc {n}",
    "Báo cáo định kỳ tuyến biên giới Savannakhet {n}",
]
TITLES = [
    "Vận chuyển ma túy tổng hợp qua Cha Lo {n}",
    "Heroin qua đường mòn biên giới {n}",
    "ການລັກລອບຂົນສົ່ງຢາບ້າ ເມືອງບົວລະພາ {n}",
    "Tàng trữ tiền chất tại Đắk Lắk {n}",
]
CLASSIFICATIONS = ["restricted"] * 5 + ["confidential"] * 3 + ["secret"] + ["top_secret"]


def app_for(url: str):
    from hub import create_app
    from hub.config import Settings

    settings = Settings.from_env(
        {
            "database_url": url,
            "instance_path": tempfile.mkdtemp(prefix="hub-bench-"),
            "secret_key": "bench-secret-key-not-for-production-0123456789",
            "keys_dir": tempfile.mkdtemp(prefix="hub-bench-keys-"),
            "key_passphrase": "bench",
        }
    )
    return create_app(settings)


def _when(rnd: random.Random) -> datetime:
    return START + timedelta(seconds=rnd.random() * SPAN)


def case_rows(orgs: dict[str, int], agreements: dict, count: int, seed: int):
    from hub.text import fold

    rnd = random.Random(seed)
    pairs = [
        ("QB", "KM", "QB-KM-MOU"),
        ("QB", "SV", "QB-SV-MOU"),
        ("KM", "QB", "QB-KM-MOU"),
        ("SV", "QB", "QB-SV-MOU"),
    ]
    now = datetime.now(UTC)
    for i in range(1, count + 1):
        owner, partner, agreement = pairs[rnd.randrange(len(pairs))]
        opened = _when(rnd).date()
        reference = f"{owner}-{opened.year}-{i:06d}"
        title = TITLES[rnd.randrange(len(TITLES))].format(n=i)
        status = rnd.choice(
            [
                "open",
                "investigating",
                "referred",
                "joint_operation",
                "prosecuted",
                "closed",
                "closed",
                "closed",
            ]
        )
        yield (
            {
                "id": i,
                "reference": reference,
                "reference_key": fold(reference),
                "title": title,
                "title_key": fold(title),
                "status": status,
                "opened_on": opened,
                "closed_on": opened + timedelta(days=rnd.randint(30, 400))
                if status == "closed"
                else None,
                "place_note": "",
                "owner_organisation_id": orgs[owner],
                "created_at": now,
                "updated_at": now,
            },
            [orgs[owner], orgs[partner]],
            agreements[agreement][0],
        )


def exchange_rows(orgs, agreements, count: int, cases: int, seed: int):
    from hub.text import fold

    rnd = random.Random(seed)
    kinds = [k for k, w in KINDS for _ in range(w)]
    names = list(AGREEMENTS)
    weights = [40, 30, 20, 10]
    now = datetime.now(UTC)
    asked: dict[str, list[tuple[int, int, int, datetime]]] = {code: [] for code in names}
    for i in range(1, count + 1):
        code = rnd.choices(names, weights)[0]
        agreement_id, parties = agreements[code]
        sender, recipient = rnd.sample(parties, 2)
        kind = kinds[rnd.randrange(len(kinds))]
        sent = _when(rnd)
        in_reply_to = None
        if kind == "response" and asked[code]:
            # A response answers an earlier request of its agreement, from its recipient.
            in_reply_to, recipient, sender, asked_at = asked[code][rnd.randrange(len(asked[code]))]
            sent = max(sent, asked_at + timedelta(hours=1))
        if kind in ("request", "permission_request"):
            asked[code].append((i, sender, recipient, sent))
            if len(asked[code]) > 500:
                asked[code].pop(0)
        due = answered = acknowledged = None
        status = "sent"
        if kind in ("request", "permission_request"):
            due = sent + timedelta(days=7 if code != "VN-LA-BILATERAL" else 14)
            if sent > now - timedelta(days=10) or rnd.random() < 0.02:
                status = rnd.choice(["sent", "acknowledged"])  # open; some overdue
            else:
                delay = timedelta(hours=rnd.lognormvariate(4.2, 0.9))
                answered = sent + delay
                acknowledged = sent + delay / 3
                status = "answered"
        elif rnd.random() < 0.9:
            acknowledged = sent + timedelta(hours=rnd.uniform(1, 60))
            status = "acknowledged"
        if status == "acknowledged" and acknowledged is None:
            acknowledged = sent + timedelta(hours=5)
        subject = SUBJECTS[rnd.randrange(len(SUBJECTS))].format(n=f"{rnd.randrange(10**5):05d}")
        yield {
            "id": i,
            "agreement_id": agreement_id,
            "sender_id": sender,
            "recipient_id": recipient,
            "kind": kind,
            "status": status,
            "classification": CLASSIFICATIONS[rnd.randrange(len(CLASSIFICATIONS))],
            "handling": rnd.choice(["H0", "H0", "H0", "H1", "H2", "H3"]),
            "handling_note": "",
            "reliability": rnd.choice("ABCDEF"),
            "credibility": rnd.randint(1, 6),
            "subject": subject,
            "subject_key": fold(subject),
            "language": "vi" if sender == orgs["QB"] else "lo",
            "case_id": rnd.randint(1, cases) if cases and rnd.random() < 0.33 else None,
            "in_reply_to_id": in_reply_to,
            "onward_sharing_permitted": False,
            "court_use_permitted": False,
            "sent_at": sent,
            "due_at": due,
            "acknowledged_at": acknowledged,
            "answered_at": answered,
            "created_at": now,
        }


def _copy(conn, table: str, columns: list[str], rows) -> None:
    """PostgreSQL COPY from an in-memory text buffer, in chunks."""
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([_pg(row[c]) for c in columns])


def _pg(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _insert(conn, table, rows, chunk: int = 20_000) -> None:
    batch = []
    for row in rows:
        batch.append(row)  # the model's UTCDateTime takes aware times
        if len(batch) >= chunk:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)


def generate(url: str, *, cases: int, exchanges: int, seed: int = 7) -> dict:
    from sqlalchemy import select

    from hub.cli.setup import ensure_demo_accounts, initialise
    from hub.extensions import db
    from hub.models import Agreement, Case, Exchange, Organisation, case_agreements
    from hub.models import case_organisations as case_orgs

    app = app_for(url)
    with app.app_context():
        initialise()
        ensure_demo_accounts("bench password 1234")
        if db.session.scalar(select(Exchange.id).limit(1)) is not None:
            raise SystemExit("the database already holds exchanges: use an empty one")
        orgs = {o.code: o.id for o in db.session.scalars(select(Organisation))}
        agreements = {
            a.code: (a.id, [p.id for p in a.parties])
            for a in db.session.scalars(select(Agreement).where(Agreement.code.in_(AGREEMENTS)))
        }
        db.session.commit()
        started = time.perf_counter()
        postgres = db.engine.dialect.name == "postgresql"
        with db.engine.begin() as conn:
            made = list(case_rows(orgs, agreements, cases, seed))
            case_table = Case.__table__
            if postgres:
                columns = list(made[0][0]) if made else []
                _copy(conn, "cases", columns, (m[0] for m in made))
            else:
                _insert(conn, case_table, (m[0] for m in made))
            links = [{"case_id": m[0]["id"], "organisation_id": org} for m in made for org in m[1]]
            agreement_links = [{"case_id": m[0]["id"], "agreement_id": m[2]} for m in made]
            _insert(conn, case_orgs, iter(links))
            _insert(conn, case_agreements, iter(agreement_links))
            rows = exchange_rows(orgs, agreements, exchanges, cases, seed + 1)
            if postgres:
                columns = list(next(exchange_rows(orgs, agreements, 1, cases, 0)))
                _copy(conn, "exchanges", columns, rows)
            else:
                _insert(conn, Exchange.__table__, rows)
            if postgres:
                for table in ("cases", "exchanges"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
        if postgres:
            # VACUUM as autovacuum would on a live hub: sets the visibility map, so
            # index-only scans (the case link tables) need no heap visits.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return {"cases": cases, "exchanges": exchanges, "seconds": round(elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL (created and migrated if new; must be empty)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(generate(args.url, cases=args.cases, exchanges=args.exchanges, seed=args.seed))


if __name__ == "__main__":
    main()
