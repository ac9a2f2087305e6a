"""The endpoints partner hubs call (hub.operations.inbox does the work): signed requests,
JSON answers, no session and no CSRF token (each request carries its own signature)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from hub.operations import inbox, witness
from hub.operations.packages import MAX_PACKAGE_BYTES
from hub.web.body_limits import allows_body

bp = Blueprint("peer_inbox", __name__, url_prefix="/peer/v1")


def _refused(exc: inbox.InboxRefused) -> Response:
    response = jsonify({"error": exc.code, "message": exc.message})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Signature realm="blo-hub-peer"'
    return response


@bp.errorhandler(413)
def too_large(_exc: Exception) -> Response:
    return _refused(inbox.InboxRefused(413, "too_large", "the body is over this hub's limit"))


@bp.post("/inbox")
@allows_body(MAX_PACKAGE_BYTES)
def deliver() -> ResponseReturnValue:
    """One sealed package, as the body; answered with the signed receipt."""
    try:
        done = inbox.receive(request.method, request.path, request.headers, request.get_data())
    except inbox.InboxRefused as exc:
        return _refused(exc)
    return jsonify(
        {"status": "already_stored" if done.again else "stored", "receipt": done.receipt}
    )


@bp.post("/hello")
def hello() -> ResponseReturnValue:
    try:
        return jsonify(
            inbox.hello(request.method, request.path, request.headers, request.get_data())
        )
    except inbox.InboxRefused as exc:
        return _refused(exc)


@bp.post("/add-checkpoint")
def add_checkpoint() -> ResponseReturnValue:
    """C2SP tlog-witness add-checkpoint, signed like the inbox; answered as the spec says."""
    try:
        answer = witness.add_checkpoint(
            request.method, request.path, request.headers, request.get_data()
        )
    except inbox.InboxRefused as exc:
        return _refused(exc)
    return Response(answer.body, status=answer.status, content_type=answer.content_type)
