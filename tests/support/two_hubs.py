"""Two hubs on loopback, set up as two offices would (README, *Two hubs*): shared by the
two-hub journey tests (tests/journeys/test_two_hubs.py) and the delivery benchmark
(bench/bench_delivery.py), so both measure and test the same set-up.

Each `Hub` has its own database, key folder and instance folder; its set-up verbs run
in the calling process through the real CLI, and `hub serve` in a process of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select

from hub import create_app
from hub.config import Settings
from hub.extensions import db

HUB_EXE = Path(sys.executable).with_name("hub")
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hub:
    """One office's hub: settings, the CLI in this process, `hub serve` in another."""

    def __init__(
        self, name: str, org: str, base: Path, database_url: str, max_attachment_bytes: int = 0
    ):
        self.name, self.org, self.base = name, org, base
        base.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "HUB_ENV": "development",
            "HUB_INSTANCE_PATH": str(base / "instance"),
            "HUB_DATABASE_URL": database_url,
            "HUB_KEYS_DIR": str(base / "keys"),
            "HUB_KEY_PASSPHRASE": f"{name} passphrase for the tests",
            "HUB_SECRET_KEY": f"{name}-test-secret-0123456789-0123456789-abcdef",
            "HUB_PEER_DELIVERY_INTERVAL_SECONDS": "1",
            "HUB_PEER_RETRY_MAX_SECONDS": "2",
            "HUB_LOG_LEVEL": "WARNING",
        }
        if max_attachment_bytes:
            self.env["HUB_MAX_ATTACHMENT_BYTES"] = str(max_attachment_bytes)
        overrides = {
            "env": "development",
            "instance_path": self.env["HUB_INSTANCE_PATH"],
            "database_url": database_url,
            "keys_dir": self.env["HUB_KEYS_DIR"],
            "key_passphrase": self.env["HUB_KEY_PASSPHRASE"],
            "secret_key": self.env["HUB_SECRET_KEY"],
            "peer_delivery_interval_seconds": 1,
            "peer_retry_max_seconds": 2,
        }
        if max_attachment_bytes:
            overrides["max_attachment_bytes"] = max_attachment_bytes
        self.app = create_app(Settings.from_env(overrides))
        self.process: subprocess.Popen | None = None
        self.log = base / "serve.log"

    def cli(self, *args: str, input: str | None = None) -> str:
        with self.db():
            result = self.app.test_cli_runner().invoke(args=list(args), input=input)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    @contextlib.contextmanager
    def db(self) -> Iterator[None]:
        """This process's view of the hub's database (read-only use), released after."""
        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()

    def count(self, model, *where) -> int:
        with self.db():
            return db.session.scalar(select(func.count()).select_from(model).where(*where))

    def start(self) -> None:
        assert self.process is None
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(HUB_EXE), "serve", "--port", str(self.port)],
            env={**os.environ, **self.env},
            stdout=handle,
            stderr=handle,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            with contextlib.suppress(OSError):
                if self.request("GET", "/healthz")[0] in (200, 503):
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else {}
        except ValueError:
            return response.status, {"raw": raw.decode("utf-8", "replace")}

    def upload(self, path: str, token: str, filename: str, data: bytes):
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept-Language": "en",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        return self.request("POST", "/api/v1" + path, body, headers)

    def api(self, method: str, path: str, token: str, payload: dict | None = None):
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        return self.request(method, "/api/v1" + path, body, headers)


def exchange_keys(base: Path, *hubs: Hub) -> None:
    """`hub init --org` on each, then each one's public keys imported by the others (the
    fingerprints confirmed by telephone, here taken as read out: --yes)."""
    for hub in hubs:
        hub.cli("init", "--org", hub.org)
        hub.cli("keys", "export-public", hub.org, "-o", str(base / f"{hub.org}.public.json"))
    for hub in hubs:
        for other in hubs:
            if other is not hub:
                hub.cli("keys", "import-public", str(base / f"{other.org}.public.json"), "--yes")


def register(hub: Hub, other: Hub, *, ask: bool = False) -> str:
    """`hub peer add` of ``other`` at ``hub`` (named "<name>-hub"); ``ask``: answer the
    fingerprint question as an administrator would, after the telephone call."""
    args = ["peer", "add", f"{other.name}-hub", "--url", other.url, "--org", other.org]
    return hub.cli(*args, input="y\n") if ask else hub.cli(*args, "--yes")


def add_officer(hub: Hub, username: str, language: str = "en") -> str:
    """An officer of the hub's organisation, and an API token for it."""
    hub.cli(
        "user", "add", username, "--org", hub.org, "--role", "officer",
        "--language", language, "--password", PASSWORD,
    )  # fmt: skip
    return hub.cli("token", "create", username).strip().splitlines()[-1]


def set_up_pair(base: Path, qb: Hub, km: Hub) -> dict[str, str]:
    """Keys exchanged, each registered at the other, an officer on each: their tokens."""
    exchange_keys(base, qb, km)
    shown = register(qb, km, ask=True)
    assert "Do they match" in shown  # `hub peer add` shows the fingerprints and asks
    register(km, qb)
    return {
        "qb.officer": add_officer(qb, "qb.officer", "vi"),
        "km.officer": add_officer(km, "km.officer", "lo"),
    }


def close(*hubs: Hub) -> None:
    for hub in hubs:
        hub.stop()
        with hub.app.app_context():
            db.session.remove()
            db.engine.dispose()
