"""Sealed content of cases and exchanges: its formats, and opening it for a reader.

Records are sealed by hub.operations.sealed (the sealed-record helper). Formats
(the bytes sealed):

- ``exchange`` and ``exchange_translation``: canonical JSON (sorted keys, UTF-8)
  ``{"body": str, "fields": {...}, "language": str}``.
- ``attachment``: a one-line canonical JSON header
  ``{"filename": str, "media_type": str, "size": int}``, then ``b"\\n"``, then
  the file's raw bytes (so large files are never base64-inflated).
- ``suspect``: canonical JSON ``{"name", "date_of_birth", "nationality",
  "identity_document"}`` (strings; date as ISO 8601 or "").

Plaintext never reaches a table: the model rows hold only the payload id.
"""

from __future__ import annotations

import json
from typing import Any

from hub.models import SealedPayload
from hub.operations.actor import Actor


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def open_bytes(
    actor: Actor, payload: SealedPayload, *, record_type: str, record_id: int, logs: list[str]
) -> bytes:
    """Open for the actor (checks they are a reader, verifies, decrypts, audits the read)."""
    from hub.operations import payloads

    return payloads.open_for(
        actor, payload, record_type=record_type, record_id=record_id, logs=logs
    )


def open_json(actor: Actor, payload: SealedPayload, **kwargs: Any) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(open_bytes(actor, payload, **kwargs))
    return opened


def attachment_content(filename: str, media_type: str, data: bytes) -> bytes:
    header = canonical({"filename": filename, "media_type": media_type, "size": len(data)})
    return header + b"\n" + data


def split_attachment(content: bytes) -> tuple[dict[str, Any], bytes]:
    header, _, data = content.partition(b"\n")
    return json.loads(header), data
