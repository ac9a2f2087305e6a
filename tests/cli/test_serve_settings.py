"""`hub serve`'s waitress settings: defaults, validation, and that they reach waitress."""

from __future__ import annotations

import pytest

from hub.config import ConfigError, Settings

SERVE_VARIABLES = ("HUB_SERVE_THREADS", "HUB_SERVE_CONNECTION_LIMIT", "HUB_SERVE_CHANNEL_TIMEOUT")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in SERVE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_INSTANCE_PATH", str(tmp_path))
    return monkeypatch


def test_defaults_are_above_waitress_limits_that_locked_officers_out(clean_env):
    settings = Settings.from_env()
    assert settings.serve_threads == 8
    # waitress's own default is 100: 150 idle connections locked new clients out.
    assert settings.serve_connection_limit == 500
    assert settings.serve_channel_timeout == 30


def test_values_are_read_from_the_environment(clean_env):
    clean_env.setenv("HUB_SERVE_THREADS", "16")
    clean_env.setenv("HUB_SERVE_CONNECTION_LIMIT", "800")
    clean_env.setenv("HUB_SERVE_CHANNEL_TIMEOUT", "60")
    settings = Settings.from_env()
    assert (settings.serve_threads, settings.serve_connection_limit) == (16, 800)
    assert settings.serve_channel_timeout == 60


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUB_SERVE_THREADS", "0", "must be positive"),
        ("HUB_SERVE_THREADS", "65", "between 1 and 64"),
        ("HUB_SERVE_THREADS", "eight", "whole number"),
        ("HUB_SERVE_CONNECTION_LIMIT", "5", "between 10 and 900"),
        ("HUB_SERVE_CONNECTION_LIMIT", "5000", "between 10 and 900"),
        ("HUB_SERVE_CHANNEL_TIMEOUT", "1", "between 5 and 3600"),
        ("HUB_SERVE_CHANNEL_TIMEOUT", "-3", "must be positive"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env()
    assert name in str(caught.value)


def test_hub_serve_refuses_a_bad_setting_in_one_line(clean_env, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(repo),  # this checkout's hub, whichever venv runs the tests
        "HUB_INSTANCE_PATH": str(tmp_path),
        "HUB_SERVE_CONNECTION_LIMIT": "5000",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "HUB_SERVE_CONNECTION_LIMIT must be between 10 and 900" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
