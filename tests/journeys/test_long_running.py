"""One process serving a day's work: one app, one engine, many requests of every kind.

Every other test gets a fresh database and a fresh connection, so a setting that
only breaks on a connection that has already done something else (SQLite's
`PRAGMA temp_store` inside a transaction, after `hub demo`'s own initialisation
had touched the temporary schema) never showed.  Here the app prepares itself
the way `hub demo` does (`demo --no-serve` on a database it initialises), then
the same app and engine serve rounds of logins, sends, acknowledgements,
answers, lists, case pages, compliance pages and exports, the API, audit
verification and proofs: through the test client and through a real waitress
server on loopback, several threads at once.  No answer may be a 5xx.
"""

from __future__ import annotations

import io
import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub import create_app
from tests.conftest import PASSWORD, _settings

ROUNDS = 8
LOG = "QB-KM-MOU"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def served(database_url, database_backend, tmp_path):
    """The app after `hub demo --no-serve`, with the same engine for what follows.

    On SQLite the database starts empty, as `hub demo` on a new machine does.
    """
    url = (
        f"sqlite:///{tmp_path / 'fresh.sqlite3'}" if database_backend == "sqlite" else database_url
    )
    app = create_app(_settings(tmp_path, url, demo_password=PASSWORD))
    with app.app_context():  # as the `hub` command runs its verbs
        prepared = app.test_cli_runner().invoke(args=["demo", "--no-serve"])
    assert prepared.exit_code == 0, prepared.output
    # No app context stays pushed: each request gets its own, as when serving.
    yield app
    with app.app_context():
        from hub.extensions import db

        db.engine.dispose()


class Failures:
    """Every 5xx seen, from any thread."""

    def __init__(self):
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.count = 0

    def check(self, method: str, path: str, status: int) -> int:
        with self.lock:
            self.count += 1
            if status >= 500:
                self.seen.append(f"{method} {path} -> {status}")
        return status


class Officer:
    """One person's browser on the test client, and their API token."""

    def __init__(self, app, failures: Failures, username: str):
        from hub.operations import accounts
        from hub.operations.actor import SYSTEM

        self.client = app.test_client()
        self.failures = failures
        self.username = username
        with app.app_context():
            self.api = {"Authorization": f"Bearer {accounts.create_token(SYSTEM, username)}"}

    def _record(self, method: str, path: str, response):
        self.failures.check(method, path, response.status_code)
        return response

    def get(self, path: str, **kw):
        return self._record("GET", path, self.client.get(path, **kw))

    def post(self, path: str, **kw):
        return self._record("POST", path, self.client.post(path, **kw))

    def csrf(self, path: str) -> str:
        match = CSRF.search(self.get(path).get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self) -> None:
        answer = self.post(
            "/login",
            data={
                "username": self.username,
                "password": PASSWORD,
                "csrf_token": self.csrf("/login"),
            },
        )
        assert answer.status_code == 302, (self.username, answer.status_code)

    def logout(self) -> None:
        self.post("/logout", data={"csrf_token": self.csrf("/")})

    def api_get(self, path: str):
        return self.get(f"/api/v1{path}", headers=self.api)

    def api_post(self, path: str, **kw):
        return self.post(f"/api/v1{path}", headers=self.api, **kw)


def _request(officer: Officer, n: int, case_id: int) -> int:
    """QB asks KM through the page's form, with an attachment and the case linked."""
    data = {
        "csrf_token": officer.csrf("/exchanges/new"),
        "agreement": LOG,
        "recipient": "KM",
        "kind": "request",
        "subject": f"Xác minh chủ xe 73C-123.{n:02d}",
        "body": "Đề nghị xác minh chủ sở hữu xe tải.",
        "classification": "confidential",
        "reliability": "B",
        "credibility": "2",
        "handling": "H0",
        "handling_note": "",
        "sent_at": "",
        "case": str(case_id),
        "attachments": [(io.BytesIO(PDF), f"bien-ban-{n}.pdf")],
    }
    sent = officer.post("/exchanges/new", data=data, content_type="multipart/form-data")
    assert sent.status_code in (302, 303), sent.status_code
    return int(sent.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def _answer(km: Officer, request_id: int) -> None:
    path = f"/exchanges/{request_id}"
    assert km.get(path).status_code == 200
    acked = km.post(f"{path}/acknowledge", data={"csrf_token": km.csrf(path)})
    assert acked.status_code in (302, 303)
    answer = km.api_post(
        "/exchanges",
        json={
            "agreement": LOG,
            "recipient": "QB",
            "kind": "response",
            "subject": "Trả lời: chủ phương tiện",
            "body": "ເຈົ້າຂອງລົດແມ່ນ ...",
            "classification": "confidential",
            "reliability": "B",
            "credibility": 2,
            "handling": "H0",
            "in_reply_to": request_id,
        },
    )
    assert answer.status_code == 201, answer.get_json()


def _alert_by_api(km: Officer, n: int) -> None:
    sent = km.api_post(
        "/exchanges",
        json={
            "agreement": LOG,
            "recipient": "QB",
            "kind": "alert",
            "subject": f"Cảnh báo {n}",
            "body": "ແຈ້ງເຕືອນ",
            "classification": "restricted",
            "reliability": "C",
            "credibility": 3,
            "handling": "H0",
        },
    )
    assert sent.status_code == 201, sent.get_json()
    exchange_id = sent.get_json()["id"]
    attached = km.api_post(
        f"/exchanges/{exchange_id}/attachments",
        data={"file": (io.BytesIO(PDF), "canh-bao.pdf")},
        content_type="multipart/form-data",
    )
    assert attached.status_code == 201


def _case_work(qb: Officer, case_id: int, n: int) -> None:
    path = f"/cases/{case_id}"
    assert qb.get(path).status_code == 200
    added = qb.api_post(
        f"/cases/{case_id}/seizures",
        json={"drug_type": "crystal_meth", "quantity": f"{n}.5", "unit": "kg"},
    )
    assert added.status_code == 201, added.get_json()
    assert qb.api_get(f"/cases/{case_id}").status_code == 200


def _reading(reader: Officer) -> None:
    for path in ("/", "/exchanges/", "/exchanges/?direction=in", "/cases/", "/compliance"):
        assert reader.get(path).status_code == 200, path
    for path in ("/exchanges?direction=in", "/cases", "/agreements", "/organisations"):
        assert reader.api_get(path).status_code == 200, path


def _compliance(supervisor: Officer, *, pdf: bool) -> None:
    base = f"/agreements/{LOG}/compliance"
    assert supervisor.get(base).status_code == 200
    assert supervisor.get(f"{base}?period=quarter").status_code == 200
    assert supervisor.get(f"{base}.csv").status_code == 200
    if pdf:  # seconds each (the PDF is drawn whole): the last round only
        assert supervisor.get(f"{base}.pdf").status_code == 200
    assert supervisor.api_get(base).status_code == 200


def _audit(supervisor: Officer) -> None:
    path = f"/audit/{LOG}"
    assert supervisor.get("/audit").status_code == 200
    verified = supervisor.post(f"{path}/verify", data={"csrf_token": supervisor.csrf(path)})
    assert verified.status_code in (200, 302)
    base = f"/agreements/{LOG}/audit"
    checkpoint = supervisor.api_get(f"{base}/checkpoint")
    assert checkpoint.status_code == 200
    size = int(checkpoint.get_data(as_text=True).splitlines()[1])
    proof = supervisor.api_get(f"{base}/proof/inclusion?index={size - 1}&size={size}")
    assert proof.status_code == 200, proof.get_json()
    consistency = supervisor.api_get(f"{base}/proof/consistency?from=1&to={size}")
    assert consistency.status_code == 200, consistency.get_json()
    assert supervisor.api_get(f"{base}/entries?start=0&end={size - 1}").status_code == 200


def _over_http(base: str, failures: Failures, token: dict[str, str]) -> None:
    """Anonymous and API reads through the real server, several at once."""
    paths = [
        ("/healthz", {}),
        ("/login", {}),
        ("/api/v1/exchanges", token),
        (f"/api/v1/agreements/{LOG}/compliance", token),
        (f"/api/v1/agreements/{LOG}/audit/checkpoint", token),
        ("/api/v1/keys/checkpoint", {}),
    ]

    def fetch(item):
        path, headers = item
        request = urllib.request.Request(base + path, headers=headers)  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310 - loopback
                answer.read()
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        failures.check("GET", f"http {path}", status)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(fetch, paths * 3))


@pytest.fixture
def waitress_server(served):
    from waitress import create_server

    server = create_server(served, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


def test_a_long_running_process_serves_every_kind_of_request_without_a_5xx(served, waitress_server):
    failures = Failures()
    qb, km, sv, qb_sup, km_sup = (
        Officer(served, failures, name)
        for name in ("qb.officer", "km.officer", "sv.officer", "qb.supervisor", "km.supervisor")
    )
    for officer in (qb, km, sv, qb_sup, km_sup):
        officer.login()
    case = qb.api_post(
        "/cases",
        json={"title": "Vụ Cha Lo", "agreements": [LOG], "organisations": ["KM"]},
    )
    assert case.status_code == 201, case.get_json()
    case_id = case.get_json()["id"]

    for n in range(ROUNDS):
        request_id = _request(qb, n, case_id)
        _reading(km)
        _answer(km, request_id)
        _alert_by_api(km, n)
        _case_work(qb, case_id, n)
        _reading(sv)
        _compliance(qb_sup if n % 2 else km_sup, pdf=n == ROUNDS - 1)
        _audit(km_sup if n % 2 else qb_sup)
        _over_http(waitress_server, failures, qb_sup.api)
        if n % 3 == 2:  # sessions end and begin while the process keeps running
            for officer in (qb, km, qb_sup):
                officer.logout()
                officer.login()

    assert failures.seen == []
    assert failures.count > 300  # the mix really ran


def test_per_connection_settings_are_made_only_where_connections_are_made():
    """A PRAGMA that sets something, run by a request, is the defect this file catches late.

    hub/backup.py sets the journal mode of a restored file on its own raw connection.
    """
    hub = Path(__file__).resolve().parents[2] / "hub"
    setting = re.compile(r"PRAGMA\s+\w+\s*=", re.IGNORECASE)
    found = [
        str(path.relative_to(hub))
        for path in hub.rglob("*.py")
        if path.name not in ("database.py", "backup.py") and setting.search(path.read_text())
    ]
    assert found == []
