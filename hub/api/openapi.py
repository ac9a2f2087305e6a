"""The OpenAPI 3 document, generated from the marshmallow schemas (apispec).

Served at /api/v1/openapi.json and written to schemas/openapi.json by
`hub openapi -o schemas/openapi.json`; a test fails when the committed file
differs from what the code generates.  Paths are declared here, next to each
other, so the whole surface of the API reads in one place.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app
from flask.typing import ResponseReturnValue

from hub.api import api
from hub.api import audit as a
from hub.api import compliance as c
from hub.api import schemas as s
from hub.operations.attachments import ALLOWED
from hub.operations.checks import MAX_ID

TITLE = "BLO Hub API"
VERSION = "1.0.0"
ERROR = {"$ref": "#/components/responses/Error"}


def _path_id(name: str) -> dict:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


def _ok(schema: object, status: int = 200, description: str = "OK") -> dict[str, object]:
    return {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        },
        "default": ERROR,
    }


def _body(schema: object) -> dict[str, object]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_CODE = {"in": "path", "name": "code", "required": True, "schema": {"type": "string"}}

EXCHANGE = "#/components/schemas/Exchange"
CASE = "#/components/schemas/Case"

#: path -> {method: operation}
PATHS: dict[str, dict] = {
    "/organisations": {
        "get": {
            "summary": "Organisations (parties)",
            "tags": ["reference"],
            "responses": _ok(s.OrganisationListOut),
        }
    },
    "/agreements": {
        "get": {
            "summary": "Agreements the caller's organisation is a party to",
            "tags": ["reference"],
            "responses": _ok(s.AgreementListOut),
        }
    },
    "/agreements/{code}": {
        "get": {
            "summary": "One agreement",
            "tags": ["reference"],
            "parameters": [
                {"in": "path", "name": "code", "required": True, "schema": {"type": "string"}}
            ],
            "responses": _ok(s.AgreementOut),
        }
    },
    "/agreements/{code}/compliance": {
        "get": {
            "summary": "An agreement's obligations evaluated over a period (parties only)",
            "tags": ["compliance"],
            "parameters": [
                {"in": "path", "name": "code", "required": True, "schema": {"type": "string"}},
                {"in": "query", "schema": c.ComplianceQuery},
            ],
            "responses": _ok(c.ComplianceOut),
        }
    },
    "/agreements/{code}/audit/checkpoint": {
        "get": {
            "summary": "A signed checkpoint (C2SP signed note) covering the log's current tree",
            "description": "The code `hub` names the hub-wide log (administrators only).",
            "tags": ["audit"],
            "parameters": [_CODE],
            "responses": {
                "200": {
                    "description": "The signed note",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "default": ERROR,
            },
        }
    },
    "/agreements/{code}/audit/entries": {
        "get": {
            "summary": "Log entries start..end inclusive (RFC 6962 get-entries)",
            "description": "A position outside the log answers 400 naming the field.",
            "tags": ["audit"],
            "parameters": [_CODE, {"in": "query", "schema": a.EntriesQuery}],
            "responses": _ok(a.EntriesOut),
        }
    },
    "/agreements/{code}/audit/proof/inclusion": {
        "get": {
            "summary": "Inclusion proof of one entry in a tree size (RFC 9162 2.1.3)",
            "description": "A position outside the log answers 400 naming the field.",
            "tags": ["audit"],
            "parameters": [_CODE, {"in": "query", "schema": a.InclusionQuery}],
            "responses": _ok(a.InclusionProofOut),
        }
    },
    "/agreements/{code}/audit/proof/consistency": {
        "get": {
            "summary": "Consistency proof between two tree sizes (RFC 9162 2.1.4)",
            "description": "A position outside the log answers 400 naming the field.",
            "tags": ["audit"],
            "parameters": [_CODE, {"in": "query", "schema": a.ConsistencyQuery}],
            "responses": _ok(a.ConsistencyProofOut),
        }
    },
    "/keys/checkpoint": {
        "get": {
            "summary": "The hub's checkpoint verifier keys (C2SP vkey); no login needed",
            "tags": ["audit"],
            "security": [],
            "responses": _ok(a.CheckpointKeysOut),
        }
    },
    "/exchanges": {
        "get": {
            "summary": "Exchanges sent or received by the caller's organisation, newest first",
            "tags": ["exchanges"],
            "parameters": [{"in": "query", "schema": s.ExchangeListQuery}],
            "responses": _ok(s.ExchangePageOut),
        },
        "post": {
            "summary": "Send an exchange (a response is kind=response with in_reply_to)",
            "tags": ["exchanges"],
            "requestBody": _body(s.ExchangeCreate),
            "responses": _ok(s.ExchangeOut, 201, "Created"),
        },
    },
    "/exchanges/{exchange_id}": {
        "get": {
            "summary": "One exchange, with its body for the sender and recipient",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "responses": _ok(s.ExchangeOut),
        }
    },
    "/exchanges/{exchange_id}/acknowledge": {
        "post": {
            "summary": "Acknowledge receipt (recipient organisation)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "responses": _ok(s.ExchangeOut),
        }
    },
    "/exchanges/{exchange_id}/close": {
        "post": {
            "summary": "Close (a request: only by the organisation that asked)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "responses": _ok(s.ExchangeOut),
        }
    },
    "/exchanges/{exchange_id}/case": {
        "put": {
            "summary": "Link to a case (or unlink with null)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "requestBody": _body(s.CaseLink),
            "responses": _ok(s.ExchangeOut),
        }
    },
    "/exchanges/{exchange_id}/translations": {
        "post": {
            "summary": "Add a translation of the body beside the original",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "requestBody": _body(s.TranslationCreate),
            "responses": _ok(s.ExchangeOut, 201, "Created"),
        }
    },
    "/exchanges/{exchange_id}/forward": {
        "post": {
            "summary": "Forward to a third organisation (refused under H2 until permitted)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "requestBody": _body(s.ForwardCreate),
            "responses": _ok(s.ExchangeOut, 201, "Created"),
        }
    },
    "/exchanges/{exchange_id}/court-use": {
        "post": {
            "summary": "Mark for use in court (refused under H1 until permitted)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "responses": _ok(s.ExchangeOut),
        }
    },
    "/exchanges/{exchange_id}/attachments": {
        "post": {
            "summary": "Attach a file (PDF, JPEG, PNG, TXT, DOCX, XLSX, ODT; size-limited)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id")],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "filename": {"type": "string", "maxLength": 200},
                            },
                            "required": ["file"],
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": _ok(s.AttachmentCreatedOut, 201, "Created"),
        }
    },
    "/exchanges/{exchange_id}/attachments/{attachment_id}": {
        "get": {
            "summary": "Download an attachment (opened for the sender and recipient)",
            "tags": ["exchanges"],
            "parameters": [_path_id("exchange_id"), _path_id("attachment_id")],
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {
                        media: {"schema": {"type": "string", "format": "binary"}}
                        for media in sorted(ALLOWED)
                    },
                },
                "default": ERROR,
            },
        }
    },
    "/cases": {
        "get": {
            "summary": "Cases the caller's organisation owns or is involved in, newest first",
            "tags": ["cases"],
            "parameters": [{"in": "query", "schema": s.CaseListQuery}],
            "responses": _ok(s.CasePageOut),
        },
        "post": {
            "summary": "Open a case",
            "tags": ["cases"],
            "requestBody": _body(s.CaseCreate),
            "responses": _ok(s.CaseOut, 201, "Created"),
        },
    },
    "/cases/{case_id}": {
        "get": {
            "summary": "One case, with its suspects and linked exchanges",
            "tags": ["cases"],
            "parameters": [_path_id("case_id")],
            "responses": _ok(s.CaseOut),
        },
        "patch": {
            "summary": "Edit a case (owner organisation); only the fields given change",
            "tags": ["cases"],
            "parameters": [_path_id("case_id")],
            "requestBody": _body(s.CaseUpdate),
            "responses": _ok(s.CaseOut),
        },
    },
    "/cases/{case_id}/status": {
        "post": {
            "summary": "Change status (allowed transitions only)",
            "tags": ["cases"],
            "parameters": [_path_id("case_id")],
            "requestBody": _body(s.CaseStatusChange),
            "responses": _ok(s.CaseOut),
        }
    },
    "/cases/{case_id}/seizures": {
        "post": {
            "summary": "Record a seizure",
            "tags": ["cases"],
            "parameters": [_path_id("case_id")],
            "requestBody": _body(s.SeizureIn),
            "responses": _ok(s.CaseOut, 201, "Created"),
        }
    },
    "/cases/{case_id}/suspects": {
        "post": {
            "summary": "Record a suspect (personal data sealed)",
            "tags": ["cases"],
            "parameters": [_path_id("case_id")],
            "requestBody": _body(s.SuspectIn),
            "responses": _ok(s.CaseOut, 201, "Created"),
        }
    },
}


def build_spec() -> dict:
    """The OpenAPI document as a dict (deterministic: same code, same document)."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "Cases and intelligence exchanges between the Quảng Bình BLO and its partner "
                "provinces. Authenticate with `Authorization: Bearer <token>` (`hub token`). "
                'Errors are `{"errors": {field: [messages]}, "code", "request_id"}` in the '
                "token owner's language: 400 for a body that is not JSON, 422 for invalid "
                "fields, 404 for what does not exist or is not the caller's to see."
            )
        },
        servers=[{"url": "/api/v1"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=s.ErrorOut)
    spec.components.response(
        "Error",
        {
            "description": "An error",
            "content": {"application/json": {"schema": "Error"}},
        },
    )
    named = {
        "Exchange": s.ExchangeOut,
        "ExchangeCreate": s.ExchangeCreate,
        "Case": s.CaseOut,
        "CaseCreate": s.CaseCreate,
        "CaseUpdate": s.CaseUpdate,
    }
    for name, schema in named.items():
        spec.components.schema(name, schema=schema)
    for path, operations in PATHS.items():
        spec.path(
            path=path,
            operations={
                # bearer unless the operation says otherwise (the public key)
                method: {"security": [{"bearer": []}], **op}
                for method, op in operations.items()
            },
        )
    return spec.to_dict()


def render() -> str:
    return json.dumps(build_spec(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@api.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return current_app.response_class(render(), mimetype="application/json")


@click.command("openapi")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the document to this file (default: print it).",
)
def openapi_command(output: Path | None) -> None:
    """Write the API's OpenAPI 3 document (schemas/openapi.json)."""
    text = render()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}")


COMMANDS = (openapi_command,)
