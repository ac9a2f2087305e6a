"""Structured logs that leak nothing: one JSON object a line, allow-listed fields only.

Every log record, from the hub or from a library, goes through `JsonFormatter`:

- Only the fields named in `ALLOWED_FIELDS` are written.  Anything else a caller
  passes in ``extra=`` is dropped (and its *name* listed under ``dropped``), so a
  password, TOTP code, token, cookie, header, request body or payload cannot
  reach a log line by accident: there is no field to put it in.
- The message is the call's constant template.  Its ``%`` arguments are filled
  in only when they are numbers; a string argument (a library logging a SQL
  parameter, a request line with its query string, a username typed at the login
  form) is never interpolated, the template is kept and ``args_dropped`` counts
  what was left out.
- An exception is logged as its type, a database or OS error code when there is
  one, and its stack frames (file, line, function) — never its message, which
  can carry SQL parameters or the data that failed.
- Every string value has CR, LF and every other control character escaped
  (``\\r``, ``\\n``, ``\\x1b``…), and backslashes doubled, so one line is always
  one record and nothing typed by a user can forge another.

Each request adds one ``request`` line: request id, user, organisation, method,
endpoint and route template (never the raw path or query string), status and
duration.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, request

#: Fields a log line may carry.  Adding one is a reviewed decision: it must never hold
#: a secret, payload content or personal data.
ALLOWED_FIELDS: tuple[str, ...] = (
    "request_id",
    "user",
    "organisation",
    "method",
    "endpoint",
    "route",
    "status",
    "duration_ms",
    "action",
    "target_type",
    "target_id",
    "log",
    "size",
    "count",
    "backend",
    "check",
    "ok",
    "errno",
    "code",
)

#: LogRecord's own attributes: not extras, never written except through the formatter.
_RECORD_ATTRS = frozenset(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__.keys()) | {
    "message",
    "asctime",
    "hub_escaped",
}

MAX_VALUE_CHARS = 300
MAX_FRAMES = 20
_SAFE_ARG_TYPES = (int, float, bool, type(None))


def escape(value: str) -> str:
    """Backslashes doubled, then every control character written as an escape."""
    out = []
    for char in value.replace("\\", "\\\\"):
        code = ord(char)
        if char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
        else:
            out.append(char)
    text = "".join(out)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "…"
    return text


def _safe_value(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    return escape(str(value))


def _message(record: logging.LogRecord) -> tuple[str, int]:
    """The constant template, filled in only with numeric arguments."""
    template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
    args = record.args
    if not args:
        return template, 0
    values = args.values() if isinstance(args, dict) else args
    if all(isinstance(v, _SAFE_ARG_TYPES) for v in values):
        try:
            return template % args, 0
        except (TypeError, ValueError, KeyError):
            return template, len(values)
    return template, len(values)


def _error_code(exc: BaseException) -> str | None:
    """A machine code that says what failed without saying with which data."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    for candidate in (orig, exc):
        if candidate is None:
            continue
        for attribute in ("sqlite_errorname", "sqlstate"):
            code = getattr(candidate, attribute, None)
            if code:
                return str(code)
        if isinstance(candidate, OSError) and candidate.errno is not None:
            import errno as errno_names

            return errno_names.errorcode.get(candidate.errno, str(candidate.errno))
    return None


def _exception_fields(exc_info: Any) -> dict[str, Any]:
    exc_type, exc, tb = exc_info
    if exc_type is None:
        return {}
    fields: dict[str, Any] = {"exception": f"{exc_type.__module__}.{exc_type.__qualname__}"}
    if exc is not None:
        code = _error_code(exc)
        if code:
            fields["error_code"] = code
    frames = traceback.extract_tb(tb)[-MAX_FRAMES:]
    fields["frames"] = [escape(f"{f.filename}:{f.lineno} in {f.name}") for f in frames]
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line; see the module docstring for what may appear in it."""

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "hub_escaped", False):
            escape_record(record)
        message, dropped_args = _message(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": escape(record.name),
            "event": message,
        }
        dropped = []
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            if key in ALLOWED_FIELDS:
                line[key] = value
            else:
                dropped.append(escape(key))
        if dropped_args:
            line["args_dropped"] = dropped_args
        if dropped:
            line["dropped"] = sorted(dropped)
        if record.exc_info:
            line.update(_exception_fields(record.exc_info))
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def escape_record(record: logging.LogRecord) -> None:
    """Escape the message template and every allow-listed extra, in place, once."""
    if isinstance(record.msg, str):
        record.msg = escape(record.msg)
    for key in ALLOWED_FIELDS:
        if key in record.__dict__:
            record.__dict__[key] = _safe_value(record.__dict__[key])
    record.hub_escaped = True


class EscapeFilter(logging.Filter):
    """Escapes CR, LF and every other control character in the message and in every
    allow-listed value, before any handler formats the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "hub_escaped", False):
            escape_record(record)
        return True


class JsonLogHandler(logging.StreamHandler):
    """Writes JSON lines to `stream`, or to whatever sys.stderr is at the time of writing
    (test runners and servers swap it)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._fixed_stream = stream
        self.setFormatter(JsonFormatter())

    @property
    def stream(self) -> IO[str]:
        return self._fixed_stream if self._fixed_stream is not None else sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        self._fixed_stream = value


def _request_start() -> None:
    """First of all before-request hooks: even a request refused early (a CSRF failure,
    before hub.security runs) gets a request id for its error page and its log line."""
    g.log_started = time.perf_counter()
    g.request_id = secrets.token_hex(8)
    g.actor = None


def _identity() -> tuple[str | None, str | None]:
    actor = g.get("actor")
    if actor is None:
        return None, None
    return getattr(actor, "username", None), getattr(actor, "organisation_code", None)


def _request_done(response: Response) -> Response:
    started = g.get("log_started")
    user, organisation = _identity()
    rule = request.url_rule
    logging.getLogger("hub.request").info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "user": user,
            "organisation": organisation,
            "method": request.method,
            "endpoint": request.endpoint,
            "route": rule.rule if rule is not None else None,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        },
    )
    return response


def install(level: str | int = "INFO", stream: IO[str] | None = None) -> JsonLogHandler:
    """Route every logger through one JSON handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, JsonLogHandler):
            root.removeHandler(handler)
    handler = JsonLogHandler(stream)
    handler.addFilter(EscapeFilter())
    root.addHandler(handler)
    if isinstance(level, str):
        name = level.upper()
        if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            from hub.config import ConfigError

            raise ConfigError(
                f"HUB_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}"
            )
        level = name
    root.setLevel(level)
    # Flask's own handler would print plain text beside ours; werkzeug's dev-server
    # request lines duplicate (with query strings) what `_request_done` logs.
    from flask.logging import default_handler

    logging.getLogger("hub").removeHandler(default_handler)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def init_app(app: Flask) -> None:
    install(app.config["HUB"].log_level)
    # Migrations call logging.fileConfig, which may have disabled loggers made earlier.
    for name in ("hub", "hub.request", "waitress"):
        logging.getLogger(name).disabled = False
    app.before_request_funcs.setdefault(None, []).insert(0, _request_start)
    app.after_request(_request_done)
