"""The audit log API: checkpoints, entries and proofs in RFC 6962 shapes.

``/agreements/<code>/audit/...`` serves the log of agreement ``code`` (the code
``hub`` names the hub-wide log, for administrators). The checkpoint key is
public: anyone may fetch it to verify checkpoints.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from hub.api import api
from hub.api.errors import error_response, token_required
from hub.api.schemas import BaseSchema, Integer
from hub.audit import checkpoints
from hub.operations import audit as ops

#: _int_arg takes at most 18 digits.
MAX_POSITION = 10**18 - 1


def _position(**kwargs: Any) -> Integer:
    # Documentation of what _int_arg accepts (a whole number, 0 or more); the
    # views read the query themselves so their errors stay 400 out_of_range.
    return Integer(
        strict=True,
        validate=validate.Range(
            min=0, max=MAX_POSITION, error=_l("Must be between {min} and {max}.")
        ),
        **kwargs,
    )


class EntriesQuery(BaseSchema):
    start = _position(required=True, metadata={"description": "First index"})
    end = _position(
        metadata={
            "description": "Last index, included (RFC 6962); default the last entry; "
            "at most 1000 entries per call"
        }
    )


class InclusionQuery(BaseSchema):
    index = _position(required=True, metadata={"description": "The entry's index"})
    size = _position(metadata={"description": "Tree size to prove against; default the current"})


class ConsistencyQuery(BaseSchema):
    from_ = _position(
        data_key="from", required=True, metadata={"description": "The older tree size"}
    )
    to = _position(metadata={"description": "The newer tree size; default the current"})


_BASE64 = {"format": "byte"}


class EntryOut(Schema):
    """One entry: its bytes, and (unless damaged) their decoded fields, `log` and
    `version` left out (see schemas/audit-entry.md); a withheld one: its hash, action
    and record type."""

    leaf_input = fields.String(
        metadata={
            **_BASE64,
            "description": "The entry's bytes; only these are hashed (absent when withheld)",
        },
    )
    leaf_hash = fields.String(
        metadata={
            **_BASE64,
            "description": "A withheld entry's leaf hash, SHA-256(0x00 || bytes): "
            "the tree can be recomputed without its bytes",
        }
    )
    index = fields.Integer(required=True)
    time = fields.String(metadata={"description": "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ"})
    actor = fields.String()
    organisation = fields.String()
    action = fields.String()
    target_type = fields.String()
    target_id = fields.String()
    details = fields.Dict(keys=fields.String())
    damaged = fields.Boolean(
        metadata={"description": "Present (true) when the bytes do not decode: no fields then"}
    )
    withheld = fields.Boolean(
        metadata={
            "description": "Present (true) for an entry about a case the caller does not "
            "see: only index, leaf_hash, action and target_type then"
        }
    )


class EntriesOut(Schema):
    entries = fields.List(fields.Nested(EntryOut), required=True)


class InclusionProofOut(Schema):
    leaf_index = fields.Integer(required=True)
    tree_size = fields.Integer(required=True)
    leaf_hash = fields.String(required=True, metadata=_BASE64)
    audit_path = fields.List(fields.String(metadata=_BASE64), required=True)


class ConsistencyProofOut(Schema):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    consistency = fields.List(fields.String(metadata=_BASE64), required=True)


class CheckpointKeysOut(Schema):
    vkey = fields.String(required=True, metadata={"description": "The newest C2SP vkey"})
    vkeys = fields.List(
        fields.String(), required=True, metadata={"description": "Every key version, newest last"}
    )
    origin_prefix = fields.String(required=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ops.OutOfRange.one(name, _l("Must be a whole number, 0 or more."))
    return int(raw)


@api.errorhandler(ops.OutOfRange)
def _out_of_range(exc: ops.OutOfRange) -> ResponseReturnValue:
    # 400, not the 422 of other validation failures: the request names a
    # position the tree does not have (as CT logs answer get-proof-by-hash).
    return error_response(400, {k: [str(m) for m in v] for k, v in exc.errors.items()}, exc.code)


@api.get("/agreements/<code>/audit/checkpoint")
@token_required
def audit_checkpoint(code: str) -> ResponseReturnValue:
    row = ops.current_checkpoint(g.actor, code)
    return Response(row.note, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@api.get("/agreements/<code>/audit/entries")
@token_required
def audit_entries(code: str) -> ResponseReturnValue:
    items = []
    for row in ops.entries(g.actor, code, _int_arg("start"), _int_arg("end")):
        found = row.fields or {}
        if row.withheld:  # about a case the caller does not see: its place and hash only
            items.append(
                {"index": row.index, "leaf_hash": _b64(row.leaf_hash), "withheld": True, **found}
            )
        elif row.damaged:  # damaged or tampered: serve the bytes, say so, never a 500
            items.append(
                {"leaf_input": _b64(row.leaf_input or b""), "index": row.index, "damaged": True}
            )
        else:
            shown = {k: found[k] for k in sorted(found) if k not in ("log", "version")}
            items.append({"leaf_input": _b64(row.leaf_input or b""), **shown})
    return jsonify({"entries": items})


@api.get("/agreements/<code>/audit/proof/inclusion")
@token_required
def audit_inclusion(code: str) -> ResponseReturnValue:
    proof = ops.inclusion_proof(g.actor, code, _int_arg("index"), _int_arg("size"))
    return jsonify(
        {
            "leaf_index": proof.leaf_index,
            "tree_size": proof.tree_size,
            "leaf_hash": _b64(proof.leaf_hash),
            "audit_path": [_b64(h) for h in proof.audit_path],
        }
    )


@api.get("/agreements/<code>/audit/proof/consistency")
@token_required
def audit_consistency(code: str) -> ResponseReturnValue:
    proof = ops.consistency_proof(g.actor, code, _int_arg("from"), _int_arg("to"))
    return jsonify(
        {
            "first": proof.first,
            "second": proof.second,
            "consistency": [_b64(h) for h in proof.consistency],
        }
    )


@api.get("/keys/checkpoint")
def checkpoint_key() -> ResponseReturnValue:
    """The hub's checkpoint verifier keys (C2SP vkey), newest last; public."""
    vkeys = checkpoints.vkeys()
    if not vkeys:
        raise ops.CheckpointUnavailable()
    return jsonify({"vkey": vkeys[-1], "vkeys": vkeys, "origin_prefix": checkpoints.ORIGIN_PREFIX})
