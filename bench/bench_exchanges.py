"""Benchmark of issue 3: recording exchanges, and the filtered lists at scale.

    .venv/bin/python bench/generate.py sqlite:////tmp/hub-bench.sqlite3
    .venv/bin/python bench/bench_exchanges.py sqlite:////tmp/hub-bench.sqlite3

Prints
- exchanges recorded per second through the API (POST /api/v1/exchanges in
  process, with validation, sealing and auditing), the same with sealing
  and/or auditing left out (measured, not subtracted), and the same rows
  inserted by plain SQLAlchemy, each in its own transaction, as the floor;
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
from contextlib import contextmanager
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


@contextmanager
def stubbed(*, sealing: bool, auditing: bool):
    """Record without sealing and/or auditing: the request path those issues left out.

    Sealing is replaced by a payload that names nothing (the exchange keeps
    payload_id NULL, as before the encryption issue); auditing by a no-op.
    Everything else (token, schema, rules, insert, commit, response) runs as usual.
    """
    from hub.extensions import db
    from hub.operations import audit, sealed

    def unsealed(actor, row, *, record_type, action, logs, details, target_type=None, **kw):
        # sealed.add without the seal: the row added, its entry written (or stubbed).
        db.session.add(row)
        db.session.flush()
        target = row.id if kw.get("target_id") is None else kw["target_id"]
        audit.record(
            action,
            actor=actor,
            target_type=target_type or record_type,
            target_id=target,
            logs=logs,
            details=details(row.id) if callable(details) else details,
        )

    saved = sealed.add, audit.record
    if sealing:
        sealed.add = unsealed
    if auditing:
        audit.record = lambda *_a, **_kw: None
    try:
        yield
    finally:
        sealed.add, audit.record = saved


#: What each recording run leaves out (sealing, auditing).
MODES = {
    "api": (False, False),
    "api without sealing": (True, False),
    "api without auditing": (False, True),
    "api without sealing and auditing": (True, True),
}


def bench_recording(app, count: int, rounds: int = 5) -> dict:
    """Seconds per exchange of each way of recording, interleaved in rounds.

    The rounds alternate the ways (API as is, API with sealing and/or auditing
    left out, plain SQLAlchemy insert) so a load spike from other processes hits
    them alike; each figure is the median over the rounds.
    """
    from sqlalchemy import delete, select

    from hub.extensions import db
    from hub.models import Agreement, Exchange, Organisation, User
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM
    from hub.text import fold

    client = app.test_client()
    with app.app_context():
        token = accounts.create_token(SYSTEM, "qb.officer", label="bench")
        agreement = db.session.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
        qb = db.session.scalar(select(Organisation).where(Organisation.code == "QB"))
        km = db.session.scalar(select(Organisation).where(Organisation.code == "KM"))
        user = db.session.scalar(select(User).where(User.username == "qb.officer"))
        values = (agreement.id, qb.id, km.id, user.id)
        db.session.remove()
    headers = {"Authorization": f"Bearer {token}"}
    per_round = max(1, count // rounds)
    ids: list[int] = []
    plain_ids: list[int] = []

    def api(i: int) -> None:
        response = client.post("/api/v1/exchanges", json=body(i), headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(response.json["id"])

    def plain(i: int) -> None:
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
        plain_ids.append(row.id)

    for i in range(3):  # warm: keys made and unlocked, statements compiled
        api(i)
        with stubbed(sealing=True, auditing=True):
            api(i)
    samples: dict[str, list[float]] = {name: [] for name in (*MODES, "plain")}
    cpu_samples: dict[str, list[float]] = {name: [] for name in (*MODES, "plain")}
    for r in range(rounds):
        for name, (no_seal, no_audit) in MODES.items():
            with stubbed(sealing=no_seal, auditing=no_audit):
                started, cpu = time.perf_counter(), time.process_time()
                for i in range(per_round):
                    api(r * per_round + i)
                samples[name].append((time.perf_counter() - started) / per_round)
                cpu_samples[name].append((time.process_time() - cpu) / per_round)
        with app.app_context():
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(per_round):
                plain(r * per_round + i)
            samples["plain"].append((time.perf_counter() - started) / per_round)
            cpu_samples["plain"].append((time.process_time() - cpu) / per_round)
            db.session.remove()
    with app.app_context():
        db.session.execute(delete(Exchange).where(Exchange.id.in_(plain_ids)))
        db.session.commit()
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    cpu = {name: statistics.median(values) for name, values in cpu_samples.items()}
    return {
        "seconds": seconds,
        "cpu": cpu,
        "api_ids": ids,
        "per_round": per_round,
        "rounds": rounds,
    }


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


def report_recording(app, count: int, rounds: int) -> None:
    recorded = bench_recording(app, count, rounds)
    seconds, cpu = recorded["seconds"], recorded["cpu"]
    plain, plain_cpu = seconds["plain"], cpu["plain"]
    print(
        f"recording ({recorded['rounds']} interleaved rounds of {recorded['per_round']}, "
        "median per exchange; CPU = this process's CPU time, less sensitive to other load, "
        "and on PostgreSQL without the server's share):"
    )
    print(f"  {'':40} {'wall ms':>8} {'/s':>6} {'ratio':>6}  {'CPU ms':>7} {'ratio':>6}")
    print(
        f"  {'plain SQLAlchemy insert, own transaction':40} {plain * 1000:8.2f} "
        f"{1 / plain:6.0f} {1:6.1f}x {plain_cpu * 1000:7.2f} {1:6.1f}x"
    )
    for name in MODES:
        value, used = seconds[name], cpu[name]
        print(
            f"  {name:40} {value * 1000:8.2f} {1 / value:6.0f} {value / plain:6.1f}x "
            f"{used * 1000:7.2f} {used / plain_cpu:6.1f}x"
        )
    api, bare = seconds["api"], seconds["api without sealing and auditing"]
    print(
        f"  sealing costs {(api - seconds['api without sealing']) * 1000:.1f} ms and auditing "
        f"{(api - seconds['api without auditing']) * 1000:.1f} ms per exchange "
        f"(both: {(api - bare) * 1000:.1f} ms; wall time)"
    )
    cleanup(app, recorded["api_ids"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--record", type=int, default=300, help="exchanges to record")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved recording rounds")
    parser.add_argument("--repeat", type=int, default=20, help="calls per list and filter")
    parser.add_argument("--lists-only", action="store_true", help="skip the recording run")
    parser.add_argument("--record-only", action="store_true", help="skip the lists")
    args = parser.parse_args()
    app = app_for(args.url)
    print(f"database: {app.config['HUB'].database_url.split('@')[-1]}")
    if not args.lists_only:
        report_recording(app, args.record, args.rounds)
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
