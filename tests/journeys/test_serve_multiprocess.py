"""Issue 15 item 3, the production shape: several `hub serve` processes against one
PostgreSQL database. Two real servers on loopback, officers of two organisations writing
through the API of both at once (into the same agreement's audit log); afterwards every
acknowledged write is stored and `hub audit verify` passes. Bounded: a few seconds.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import _pg_exec
from tests.support.serve_support import HUB, Server, hub_cli, hub_env

WRITERS_PER_SERVER = 4
WRITES_PER_WRITER = 10
PASSWORD = "correct horse battery staple"


def _database(postgres_url: str) -> str:
    url = make_url(postgres_url)
    prefix = url.database if os.environ.get("HUB_TEST_DATABASE_URL") else "hub_t_deploy"
    name = f"{prefix}_mp_{uuid.uuid4().hex[:8]}"
    _pg_exec(postgres_url, f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def _post(port: int, token: str, payload: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/v1/exchanges",
            body=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_two_servers_on_one_postgres_lose_nothing_and_verify(postgres_url, tmp_path):
    url = _database(postgres_url)
    env = hub_env(tmp_path, url, HUB_SERVE_THREADS="4")
    hub_cli(env, "init")
    tokens = {}
    for username, org, sender, recipient in (
        ("qb.writer", "QB", "QB", "KM"),
        ("km.writer", "KM", "KM", "QB"),
    ):
        result = subprocess.run(
            [*HUB, "user", "add", username, "--org", org, "--role", "officer"],
            env=env,
            input=f"{PASSWORD}\n{PASSWORD}\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        tokens[sender] = (
            hub_cli(env, "token", "create", username).strip().splitlines()[-1],
            recipient,
        )

    servers = [Server(env, tmp_path / f"serve{i}.log") for i in range(2)]
    acked: list[int] = []
    failures: list[tuple] = []
    lock = threading.Lock()

    def writer(server: Server, sender: str, number: int) -> None:
        token, recipient = tokens[sender]
        for index in range(WRITES_PER_WRITER):
            payload = {
                "agreement": "QB-KM-MOU",
                "recipient": recipient,
                "kind": "request",
                "subject": f"{sender} {server.port} {number} {index}",
                "body": "Nội dung / ເນື້ອໃນ",
                "classification": "restricted",
                "reliability": "B",
                "credibility": 2,
                "handling": "H0",
            }
            try:
                status, body = _post(server.port, token, payload)
            except OSError as exc:  # not acknowledged: may or may not be stored
                with lock:
                    failures.append(("error", repr(exc)))
                continue
            with lock:
                if status == 201:
                    acked.append(body["id"])
                else:
                    failures.append((status, body))

    try:
        for server in servers:
            server.start()
        threads = [
            threading.Thread(target=writer, args=(server, sender, number))
            for server in servers
            for sender in tokens
            for number in range(WRITERS_PER_SERVER // 2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        for server in servers:
            server.stop()

    expected = len(servers) * WRITERS_PER_SERVER * WRITES_PER_WRITER
    assert not failures, failures[:5]
    assert len(acked) == expected
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            stored = set(connection.scalars(text("SELECT id FROM exchanges")))
    finally:
        engine.dispose()
    assert set(acked) <= stored, f"lost: {sorted(set(acked) - stored)[:10]}"
    output = hub_cli(env, "audit", "verify")  # exit 0 asserted by hub_cli
    assert "verified" in output
    _pg_exec(postgres_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
