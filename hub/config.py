"""Settings read from the environment, with safe defaults for the embedded mode.

Every setting has one environment variable; `Settings.from_env()` is the only
place that reads them, so the whole configuration surface is visible here and
in README's table.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

#: The repository (or installed package) root: `translations/` and `keys/` sit here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEVELOPMENT = "development"
PRODUCTION = "production"

#: Values a deployment must never run with: anything shipped in docs or demos.
DEMO_SECRET_MARKERS = ("demo", "change-me", "changeme", "secret", "dev")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the setting."""


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...
def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int_env(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _bounded_int_env(name: str, default: int, low: int, high: int) -> int:
    """A whole number within [low, high]: out-of-range values are refused, not clamped."""
    value = _int_env(name, default)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str
    instance_path: Path
    database_url: str
    secret_key: str
    secret_key_is_generated: bool
    keys_dir: Path
    key_passphrase: str | None
    key_passphrase_file: Path | None
    demo_password: str | None
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    checkpoint_interval_minutes: int = 10
    max_attachment_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    # Partner hubs (hub.operations.delivery, hub.operations.inbox).
    peer_delivery_interval_seconds: int = 30
    peer_retry_max_seconds: int = 3600
    peer_clock_skew_seconds: int = 300
    # `hub serve` (waitress): worker threads, open connections, idle-connection timeout.
    serve_threads: int = 8
    serve_connection_limit: int = 500
    serve_channel_timeout: int = 30
    # Seals TOTP secrets; kept apart from HUB_SECRET_KEY so rotating that one keeps enrolments.
    totp_key_file: Path | None = None
    translations_dir: Path = field(default=PROJECT_ROOT / "translations")

    @property
    def production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> Settings:
        """Build settings from HUB_* variables; `overrides` (tests) wins over the environment."""
        overrides = dict(overrides or {})
        env = overrides.pop("env", None) or _env("HUB_ENV", DEVELOPMENT)
        if env not in (DEVELOPMENT, PRODUCTION):
            raise ConfigError(f"HUB_ENV must be 'development' or 'production', got {env!r}")
        instance = Path(
            overrides.pop("instance_path", None)
            or _env("HUB_INSTANCE_PATH", str(PROJECT_ROOT / "instance"))
        ).resolve()
        database_url = overrides.pop("database_url", None) or _env("HUB_DATABASE_URL")
        if database_url is None:
            database_url = f"sqlite:///{instance / 'hub.sqlite3'}"
        _check_database_url(database_url)

        secret_key = overrides.pop("secret_key", None) or _env("HUB_SECRET_KEY")
        generated = False
        if env == PRODUCTION:
            _check_production_secret(secret_key)
        elif secret_key is None:
            secret_key, generated = _instance_secret(instance), True

        passphrase_file = overrides.pop("key_passphrase_file", None) or _env(
            "HUB_KEY_PASSPHRASE_FILE"
        )
        if env == PRODUCTION:
            _check_production_passphrase(
                overrides.get("key_passphrase") or _env("HUB_KEY_PASSPHRASE"), passphrase_file
            )
        values: dict[str, Any] = dict(
            env=env,
            instance_path=instance,
            database_url=database_url,
            secret_key=secret_key,
            secret_key_is_generated=generated,
            keys_dir=Path(
                overrides.pop("keys_dir", None) or _env("HUB_KEYS_DIR", str(PROJECT_ROOT / "keys"))
            ).resolve(),
            key_passphrase=overrides.pop("key_passphrase", None) or _env("HUB_KEY_PASSPHRASE"),
            key_passphrase_file=Path(passphrase_file) if passphrase_file else None,
            demo_password=overrides.pop("demo_password", None) or _env("HUB_DEMO_PASSWORD"),
            session_idle_minutes=_int_env("HUB_SESSION_IDLE_MINUTES", 30),
            session_absolute_hours=_int_env("HUB_SESSION_ABSOLUTE_HOURS", 12),
            login_max_failures=_int_env("HUB_LOGIN_MAX_FAILURES", 5),
            login_lockout_minutes=_int_env("HUB_LOGIN_LOCKOUT_MINUTES", 15),
            checkpoint_interval_minutes=_int_env("HUB_CHECKPOINT_INTERVAL_MINUTES", 10),
            max_attachment_bytes=_int_env("HUB_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024),
            log_level=_env("HUB_LOG_LEVEL", "INFO"),
            peer_delivery_interval_seconds=_int_env("HUB_PEER_DELIVERY_INTERVAL_SECONDS", 30),
            peer_retry_max_seconds=_int_env("HUB_PEER_RETRY_MAX_SECONDS", 3600),
            peer_clock_skew_seconds=_int_env("HUB_PEER_CLOCK_SKEW_SECONDS", 300),
            serve_threads=_bounded_int_env("HUB_SERVE_THREADS", 8, 1, 64),
            # Below select()'s 1024 descriptors, well above a border post's idle links.
            serve_connection_limit=_bounded_int_env("HUB_SERVE_CONNECTION_LIMIT", 500, 10, 900),
            serve_channel_timeout=_bounded_int_env("HUB_SERVE_CHANNEL_TIMEOUT", 30, 5, 3600),
            totp_key_file=Path(
                overrides.pop("totp_key_file", None)
                or _env("HUB_TOTP_KEY_FILE")
                or instance / "totp_key"
            ),
        )
        values.update(overrides)
        return cls(**values)


def _check_database_url(url: str) -> None:
    if not (url.startswith("sqlite:///") or url.startswith("postgresql")):
        raise ConfigError(
            "HUB_DATABASE_URL must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, "
            f"got {url.split('://', 1)[0]!r}"
        )


def _check_production_secret(secret: str | None) -> None:
    if not secret:
        raise ConfigError("HUB_SECRET_KEY is required when HUB_ENV=production")
    lowered = secret.lower()
    if len(secret) < 32 or any(marker in lowered for marker in DEMO_SECRET_MARKERS):
        raise ConfigError(
            "HUB_SECRET_KEY looks like a demo value: use at least 32 random characters "
            "in production"
        )


def read_passphrase_file(path: Path) -> str:
    """The passphrase a HUB_KEY_PASSPHRASE_FILE holds: its first line, stripped ("" when
    empty). The one reader of that file (start-up checks and the keyring both use it);
    OSError or UnicodeDecodeError when it cannot be read."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].strip() if lines else ""


def _check_production_passphrase(passphrase: str | None, path: str | None) -> None:
    """The keyring passphrase guards every sealed payload: no demo value in production."""
    if not passphrase and path:
        try:
            passphrase = read_passphrase_file(Path(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"HUB_KEY_PASSPHRASE_FILE cannot be read: {exc}") from None
        if not passphrase:
            raise ConfigError("HUB_KEY_PASSPHRASE_FILE is empty")
    if not passphrase:
        raise ConfigError(
            "HUB_KEY_PASSPHRASE or HUB_KEY_PASSPHRASE_FILE is required when HUB_ENV=production"
        )
    lowered = passphrase.lower()
    if len(passphrase) < 16 or any(marker in lowered for marker in DEMO_SECRET_MARKERS):
        raise ConfigError(
            "the keyring passphrase looks like a demo value: use at least 16 characters "
            "that appear in no documentation"
        )


def _instance_secret(instance: Path) -> str:
    """The embedded mode's secret: random, made once, kept in the instance folder (0600)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
