"""/api/v1/exchanges: send, list, read, acknowledge, close, translate, attach, forward."""

from __future__ import annotations

from datetime import datetime

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from hub.api import api
from hub.api import schemas as s
from hub.api.errors import token_required
from hub.api.input import load_json, load_query
from hub.downloads import download
from hub.errors import ValidationFailed
from hub.i18n import current_language
from hub.models import Exchange
from hub.models.base import utcnow
from hub.operations import (
    attachments,
    checks,
    exchanges,
    handling,
    listing,
    outbox,
    permissions,
    scope,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def exchange_json(
    row: Exchange,
    *,
    now: datetime | None = None,
    content: exchanges.Content | None = None,
    fresh: bool = False,
) -> dict:
    """The API's view of an exchange.

    `fresh` leaves attachments and replies empty without loading them: a just-sent
    exchange has none, and lists do not show them (one query per row otherwise).
    """
    now = now or utcnow()
    viewer = g.actor  # linked records only as far as the viewer sees them (scope)
    data = {
        "id": row.id,
        "agreement": row.agreement.code,
        "sender": row.sender.code,
        "recipient": row.recipient.code,
        "kind": row.kind,
        "subject": row.subject,
        "status": row.status,
        "classification": row.classification,
        "handling": row.handling,
        "handling_note": row.handling_note,
        "reliability": row.reliability,
        "credibility": row.credibility,
        "language": row.language,
        "sent_at": _iso(row.sent_at),
        "due_at": _iso(row.due_at),
        "acknowledged_at": _iso(row.acknowledged_at),
        "answered_at": _iso(row.answered_at),
        "closed_at": _iso(row.closed_at),
        "overdue": row.overdue(now),
        "case": scope.linked_case_id(viewer, row),
        "in_reply_to": row.in_reply_to_id if scope.replied_to(viewer, row) else None,
        "forwarded_from": row.forwarded_from_id,
        "onward_sharing_permitted": row.onward_sharing_permitted,
        "court_use_permitted": row.court_use_permitted,
        "court_use_marked_at": _iso(row.court_use_marked_at),
        "permission_granted": row.permission_granted,
        "attachments": []
        if fresh
        else [{"id": a.id, "media_type": a.media_type, "size": a.size} for a in row.attachments],
        "replies": [] if fresh else [r.id for r in scope.replies(viewer, row)],
    }
    if content is not None:
        data["body"] = content.body
        data["fields"] = content.fields
        data["texts"] = [
            {
                "language": t.language,
                "body": t.body,
                "original": t.original,
                "translator": t.translator,
                "translated_at": _iso(t.translated_at),
            }
            for t in content.texts
        ]
    return data


def _detail(exchange_id: int, status: int = 200) -> ResponseReturnValue:
    row = exchanges.load_for_view(g.actor, exchange_id)
    content = None
    if exchanges.is_reader(g.actor, row):
        content = exchanges.read(g.actor, row, language=current_language())
    data = exchange_json(row, content=content)
    data["delivery"] = delivery_json(row)
    return jsonify(data), status


def delivery_json(row: Exchange) -> dict | None:
    """Queued / delivered / received by the partner's hub (None: nothing queued for a peer)."""
    state = outbox.delivery_state(row)
    if state is None:
        return None
    return {
        **state,
        "delivered_at": _iso(state["delivered_at"]),
        "received_at": _iso(state["received_at"]),
        "last_attempt_at": _iso(state["last_attempt_at"]),
    }


#: One instance for every request: loading keeps no state in it, and building one costs
#: more than the load itself.
_CREATE = s.ExchangeCreate()


@api.post("/exchanges")
@token_required
def create_exchange() -> ResponseReturnValue:
    checks.require_officer(g.actor)  # before the body: a refusal never depends on it
    data = load_json(_CREATE)
    fields = data.pop("fields_")
    row = exchanges.send(g.actor, exchanges.NewExchange(**data, fields=fields))
    return jsonify(exchange_json(row, fresh=True)), 201


@api.get("/exchanges")
@token_required
def list_exchanges() -> ResponseReturnValue:
    args = load_query(s.ExchangeListQuery())
    page, per_page, cursor = args.pop("page", None), args.pop("per_page"), args.pop("cursor", None)
    result = listing.list_exchanges(
        g.actor, listing.ExchangeFilters(**args), page=page, per_page=per_page, cursor=cursor
    )
    now = utcnow()
    return jsonify(
        {
            "items": [_list_item(row, now) for row in result.items],
            "page": result.page,
            "per_page": result.per_page,
            "has_next": result.has_next,
            "next_cursor": result.next_cursor,
        }
    )


def _list_item(row: Exchange, now: datetime) -> dict:
    data = exchange_json(row, now=now, fresh=True)  # touches no per-row relationship
    # Lists stay light: attachments and replies are on the detail.
    data.pop("attachments")
    data.pop("replies")
    return data


@api.get("/exchanges/<int:exchange_id>")
@token_required
def get_exchange(exchange_id: int) -> ResponseReturnValue:
    return _detail(exchange_id)


@api.post("/exchanges/<int:exchange_id>/acknowledge")
@token_required
def acknowledge_exchange(exchange_id: int) -> ResponseReturnValue:
    exchanges.acknowledge(g.actor, exchange_id)
    row = exchanges.load_for_view(g.actor, exchange_id)
    return jsonify(exchange_json(row))


@api.post("/exchanges/<int:exchange_id>/close")
@token_required
def close_exchange(exchange_id: int) -> ResponseReturnValue:
    exchanges.close(g.actor, exchange_id)
    row = exchanges.load_for_view(g.actor, exchange_id)
    return jsonify(exchange_json(row))


@api.put("/exchanges/<int:exchange_id>/case")
@token_required
def link_exchange_case(exchange_id: int) -> ResponseReturnValue:
    permissions.exchange_for(g.actor, exchange_id, "link_case")
    data = load_json(s.CaseLink())
    exchanges.link_case(g.actor, exchange_id, data["case"])
    row = exchanges.load_for_view(g.actor, exchange_id)
    return jsonify(exchange_json(row))


@api.post("/exchanges/<int:exchange_id>/translations")
@token_required
def add_translation(exchange_id: int) -> ResponseReturnValue:
    permissions.exchange_for(g.actor, exchange_id, "translate")
    data = load_json(s.TranslationCreate())
    exchanges.add_translation(g.actor, exchange_id, **data)
    return _detail(exchange_id, 201)


@api.post("/exchanges/<int:exchange_id>/forward")
@token_required
def forward_exchange(exchange_id: int) -> ResponseReturnValue:
    permissions.exchange_for(g.actor, exchange_id, "forward")
    data = load_json(s.ForwardCreate())
    copy = handling.forward(g.actor, exchange_id, **data)
    row = exchanges.load_for_view(g.actor, copy.id)
    return jsonify(exchange_json(row)), 201


@api.post("/exchanges/<int:exchange_id>/court-use")
@token_required
def mark_for_court(exchange_id: int) -> ResponseReturnValue:
    handling.mark_for_court(g.actor, exchange_id)
    row = exchanges.load_for_view(g.actor, exchange_id)
    return jsonify(exchange_json(row))


@api.post("/exchanges/<int:exchange_id>/attachments")
@token_required
def add_attachment(exchange_id: int) -> ResponseReturnValue:
    # Who may, first: a refusal never depends on what was sent.
    permissions.exchange_for(g.actor, exchange_id, "attach")
    if request.mimetype != "multipart/form-data":
        raise ValidationFailed.one("file", _l("Send the file as multipart/form-data."))
    unknown = (set(request.files) - {"file"}) | (set(request.form) - {"filename"})
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in sorted(unknown)})
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed.one("file", _l("Missing data for required field."))
    filename = request.form.get("filename") or upload.filename or ""
    row = attachments.add(g.actor, exchange_id, filename=filename, data=upload.read())
    return jsonify({"id": row.id, "media_type": row.media_type, "size": row.size}), 201


@api.get("/exchanges/<int:exchange_id>/attachments/<int:attachment_id>")
@token_required
def get_attachment(exchange_id: int, attachment_id: int) -> ResponseReturnValue:
    opened = attachments.open_attachment(g.actor, exchange_id, attachment_id)
    return download(opened.data, opened.media_type, opened.filename)
