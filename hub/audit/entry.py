"""The canonical bytes of one audit entry: what is hashed into the Merkle tree.

An entry is a JSON object encoded the one way RFC 8785 (JCS) allows for the
values we permit: keys sorted, no whitespace, UTF-8, only ``"`` ``\\`` and
control characters escaped. ``schemas/audit-entry.md`` specifies it so that
another implementation can recompute every leaf hash from the entries served
by ``GET .../audit/entries``.

Entries are language-neutral: actions are codes (``exchange_sent``), never
translated text, and details hold identifiers, counts and digests, never the
plaintext of what was shared.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

ENTRY_VERSION = 1
FIELDS = (
    "action",
    "actor",
    "details",
    "index",
    "log",
    "organisation",
    "target_id",
    "target_type",
    "time",
    "version",
)
#: Largest integer every JSON reader (including JavaScript's doubles) keeps exactly.
MAX_SAFE_INT = 2**53 - 1
#: Details are identifiers and digests (a SHA-256 hex is 64): a longer string is
#: most likely content that must not land in an append-only log.
MAX_DETAIL_STRING = 256
MAX_DETAIL_DEPTH = 4


class EntryError(ValueError):
    """An entry or its details cannot be encoded canonically, or bytes are not an entry."""


def format_time(moment: datetime) -> str:
    """UTC with exactly six fractional digits: one instant, one text."""
    if moment.tzinfo is None:
        raise EntryError("entry time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _clean(value: Any, path: str, depth: int = 0) -> Any:
    """Details as JSON values with one canonical text each (no floats)."""
    if depth > MAX_DETAIL_DEPTH:
        raise EntryError(f"details nested deeper than {MAX_DETAIL_DEPTH} at {path}")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise EntryError(f"integer at {path} is beyond ±2^53")
        return value
    if isinstance(value, float):
        # Floats have several JSON spellings across implementations.
        raise EntryError(f"float at {path}: store integers or strings in audit details")
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_STRING:
            raise EntryError(
                f"string at {path} is longer than {MAX_DETAIL_STRING} characters: "
                "audit details take identifiers and digests, never content"
            )
        _check_text(value, path)
        return value
    if isinstance(value, list | tuple):
        return [_clean(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryError(f"key {key!r} at {path} is not a string")
            _check_text(key, path)
            out[key] = _clean(item, f"{path}.{key}", depth + 1)
        return out
    raise EntryError(f"{type(value).__name__} at {path} cannot go into an audit entry")


def _check_text(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EntryError(f"text at {path} is not valid Unicode") from None


def canonical(value: Any) -> bytes:
    """JCS for objects of strings, integers, booleans and null."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode_entry(
    *,
    log: str,
    index: int,
    time: datetime,
    actor: str,
    organisation: str,
    action: str,
    target_type: str,
    target_id: str,
    details: Mapping[str, Any] | None,
) -> bytes:
    """The leaf input of one entry (``schemas/audit-entry.md``)."""
    if not 0 <= index <= MAX_SAFE_INT:
        raise EntryError(f"entry index {index} is out of range")
    body = {
        "action": action,
        "actor": actor,
        "details": _clean(dict(details or {}), "details"),
        "index": index,
        "log": log,
        "organisation": organisation,
        "target_id": target_id,
        "target_type": target_type,
        "time": format_time(time),
        "version": ENTRY_VERSION,
    }
    for name in ("action", "actor", "log", "organisation", "target_id", "target_type"):
        if not isinstance(body[name], str) or not body[name]:
            raise EntryError(f"entry field {name} must be a non-empty string")
        _check_text(body[name], name)
    return canonical(body)


def decode_entry(leaf_input: bytes) -> dict[str, Any]:
    """Parse leaf bytes back into fields, refusing anything not in canonical form."""
    try:
        body = json.loads(leaf_input.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EntryError("entry bytes are not UTF-8 JSON") from None
    if not isinstance(body, dict) or tuple(sorted(body)) != FIELDS:
        raise EntryError("entry does not have exactly the fields of version 1")
    if body["version"] != ENTRY_VERSION:
        raise EntryError(f"unknown entry version {body['version']!r}")
    if canonical(body) != leaf_input:
        raise EntryError("entry bytes are not in canonical form")
    return body
