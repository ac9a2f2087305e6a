"""A real `hub serve` in its own process on a loopback port, for the deployment tests.

The process runs this checkout's hub (PYTHONPATH), whichever virtualenv runs the tests.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HUB = [sys.executable, "-c", "from hub.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hub_env(base: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HUB_ENV": "development",
        "HUB_INSTANCE_PATH": str(base / "instance"),
        "HUB_DATABASE_URL": database_url,
        "HUB_KEYS_DIR": str(base / "keys"),
        "HUB_KEY_PASSPHRASE": "deployment tests passphrase 0123",
        "HUB_SECRET_KEY": "deploy-tests-secret-0123456789-0123456789-abcdef",
        "HUB_LOG_LEVEL": "WARNING",
        **extra,
    }


def hub_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    result = subprocess.run([*HUB, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout


class Server:
    """`hub serve --port N` in a child process; stopped with SIGTERM (SIGKILL if stuck)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [*HUB, "serve", "--port", str(self.port)], env=self.env, stdout=handle, stderr=handle
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            with contextlib.suppress(OSError):
                if self.get("/healthz", timeout=2)[0] in (200, 503):
                    return
            time.sleep(0.1)
        raise AssertionError(f"hub serve did not start: {self.log.read_text()[-2000:]}")

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
