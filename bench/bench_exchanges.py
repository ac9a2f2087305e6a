"""Benchmark of issue 3: recording exchanges, and the filtered lists at scale.

    .venv/bin/python bench/generate.py sqlite:////tmp/hub-bench.sqlite3
    .venv/bin/python bench/bench_exchanges.py sqlite:////tmp/hub-bench.sqlite3

Prints
- exchanges recorded per second through the API (POST /api/v1/exchanges in
  process, with validation, sealing and auditing), and the same rows inserted
  by plain SQLAlchemy, each in its own transaction, as the floor;
- server time p50/p95 of the filtered lists (operations.listing, the API
  GET /api/v1/exchanges and /api/v1/cases, and the pages /exchanges and
  /cases when they exist) for three users and a dozen filter sets.
Server time is measured around the WSGI call in process (no network).
The recorded exchanges are deleted before the lists are measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import app_for

FILTERS = [
    ("all", ""),
    ("agreement", "agreement=QB-KM-MOU"),
    ("partner", "partner=KM"),
    ("kind", "kind=request"),
    ("status", "status=answered"),
    ("classification", "classification=secret"),
    ("overdue", "overdue=true"),
    ("date range", "date_from=2023-03-01&date_to=2023-03-31"),
    ("kind+agreement+dates", "kind=alert&agreement=QB-KM-MOU&date_from=2024-01-01"),
    ("direction in", "direction=in"),
    ("search", "q=cha+lo"),
    ("page 20", "page=20"),
    ("case", "case=4242"),
]
CASE_FILTERS = [
    ("all", ""),
    ("status", "status=open"),
    ("partner", "partner=KM"),
    ("agreement", "agreement=QB-SV-MOU"),
    ("date range", "date_from=2022-01-01&date_to=2022-02-28"),
    ("search", "q=cha+lo"),
    ("page 20", "page=20"),
]
USERS = ("qb.officer", "km.officer", "sv.officer")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(call, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.95)


def body(i: int) -> dict:
    return {
        "agreement": "QB-KM-MOU",
        "recipient": "KM",
        "kind": "alert",
        "subject": f"Bench {i}",
        "body": "Nội dung đo hiệu năng " * 20,
        "classification": "restricted",
        "reliability": "B",
        "credibility": 2,
        "handling": "H0",
        "sent_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }


def bench_recording(app, count: int) -> dict:
    from sqlalchemy import delete, select

    from hub.extensions import db
    from hub.models import Agreement, Exchange, Organisation, User
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM
    from hub.text import fold

    client = app.test_client()
    with app.app_context():
        token = accounts.create_token(SYSTEM, "qb.officer", label="bench")
        db.session.remove()
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    ids = []
    for i in range(count):
        response = client.post("/api/v1/exchanges", json=body(i), headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(response.json["id"])
    api_seconds = time.perf_counter() - started
    sealing, auditing = _split(client, headers, count // 4, ids)

    with app.app_context():
        agreement = db.session.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
        qb = db.session.scalar(select(Organisation).where(Organisation.code == "QB"))
        km = db.session.scalar(select(Organisation).where(Organisation.code == "KM"))
        user = db.session.scalar(select(User).where(User.username == "qb.officer"))
        values = (agreement.id, qb.id, km.id, user.id)
        db.session.remove()
        started = time.perf_counter()
        plain = []
        for i in range(count):
            subject = f"Bench {i}"
            row = Exchange(
                agreement_id=values[0],
                sender_id=values[1],
                recipient_id=values[2],
                kind="alert",
                status="sent",
                classification="restricted",
                handling="H0",
                reliability="B",
                credibility=2,
                subject=subject,
                subject_key=fold(subject),
                created_by_id=values[3],
                sent_at=datetime.now(UTC),
            )
            db.session.add(row)
            db.session.commit()
            plain.append(row.id)
        plain_seconds = time.perf_counter() - started
        db.session.execute(delete(Exchange).where(Exchange.id.in_(plain)))
        db.session.commit()
    per_api = api_seconds / count
    per_plain = plain_seconds / count
    return {
        "bare_ratio": (per_api - sealing - auditing) / per_plain,
        "sealing_ms": sealing * 1000,
        "auditing_ms": auditing * 1000,
        "api_per_second": count / api_seconds,
        "plain_per_second": count / plain_seconds,
        "ratio": api_seconds / plain_seconds,
        "api_ids": ids,
    }


def _split(client, headers: dict, count: int, ids: list[int]) -> tuple[float, float]:
    """Seconds per exchange spent sealing and auditing (profiled run of `count` more)."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    for i in range(count):
        response = client.post("/api/v1/exchanges", json=body(i), headers=headers)
        ids.append(response.json["id"])
    profile.disable()
    seal = audit = 0.0
    for (path, _line, name), (_cc, _nc, _tt, cumulative, _callers) in pstats.Stats(
        profile
    ).stats.items():
        if path.endswith("hub/crypto/payloads.py") and name == "seal":
            seal += cumulative
        elif "hub/audit/" in path and name == "record":
            audit = max(audit, cumulative)
    return seal / count, audit / count


def bench_lists(app, repeat: int) -> list[tuple]:
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    client = app.test_client()
    with app.app_context():
        tokens = {u: accounts.create_token(SYSTEM, u, label="bench") for u in USERS}
    pages = {rule.rule for rule in app.url_map.iter_rules()}
    results = []
    targets = [("api", "/api/v1/exchanges", FILTERS), ("api", "/api/v1/cases", CASE_FILTERS)]
    for path, filters in (("/exchanges/", FILTERS), ("/cases/", CASE_FILTERS)):
        if path in pages:
            targets.append(("page", path, filters))
    for face, path, filters in targets:
        for user in USERS:
            if face == "api":
                headers = {"Authorization": f"Bearer {tokens[user]}"}
                login = None
            else:
                headers, login = {}, app.test_client()
                _login(login, user)
            for label, query in filters:
                url = f"{path}?{query}" if query else path
                caller = login or client

                def call(url=url, caller=caller, headers=headers):
                    return caller.get(url, headers=headers).status_code

                status = call()  # warm
                if status != 200:
                    print(f"skipped {face} {url} as {user}: {status}")
                    continue
                p50, p95 = timed(call, repeat)
                results.append((face, path, user, label, p50, p95))
    return results


def _login(client, username: str) -> None:
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    client.post(
        "/login",
        data={"username": username, "password": "bench password 1234", "csrf_token": token},
    )


def cleanup(app, ids: list[int]) -> None:
    """Remove the exchanges the API run recorded, so the lists measure the generated data.

    Their sealed payloads and audit entries stay (the audit log is append-only).
    """
    from sqlalchemy import delete

    from hub.extensions import db
    from hub.models import Exchange

    with app.app_context():
        db.session.execute(delete(Exchange).where(Exchange.id.in_(ids)))
        db.session.commit()


def report_recording(app, count: int) -> None:
    recorded = bench_recording(app, count)
    print(
        f"recording: API {recorded['api_per_second']:.0f}/s, plain SQLAlchemy "
        f"{recorded['plain_per_second']:.0f}/s, API costs {recorded['ratio']:.1f}x "
        "(API includes validation, sealing and auditing)"
    )
    print(
        f"  of which sealing {recorded['sealing_ms']:.1f} ms and auditing "
        f"{recorded['auditing_ms']:.1f} ms per exchange; without them the API costs "
        f"{recorded['bare_ratio']:.1f}x the plain insert"
    )
    cleanup(app, recorded["api_ids"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--record", type=int, default=300, help="exchanges to record")
    parser.add_argument("--repeat", type=int, default=20, help="calls per list and filter")
    parser.add_argument("--lists-only", action="store_true", help="skip the recording run")
    parser.add_argument("--record-only", action="store_true", help="skip the lists")
    args = parser.parse_args()
    app = app_for(args.url)
    print(f"database: {app.config['HUB'].database_url.split('@')[-1]}")
    if not args.lists_only:
        report_recording(app, args.record)
    if args.record_only:
        return
    rows = bench_lists(app, args.repeat)
    print(f"{'face':5} {'path':18} {'user':11} {'filter':22} {'p50 ms':>7} {'p95 ms':>7}")
    for face, path, user, label, p50, p95 in rows:
        print(f"{face:5} {path:18} {user:11} {label:22} {p50:7.1f} {p95:7.1f}")
    for face in sorted({r[0] for r in rows}):
        values = [r[5] for r in rows if r[0] == face]
        worst, middle = max(values), statistics.median(values)
        print(f"{face}: worst p95 {worst:.1f} ms, median p95 {middle:.1f} ms")


if __name__ == "__main__":
    main()
