"""Sealed package pages: download an exchange as a package, upload a partner's package,
download the signed receipt, upload a partner's receipt. Rules live in
hub.operations.packages; these views parse, call and render."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from hub.downloads import download
from hub.errors import OperationError, ValidationFailed
from hub.extensions import db
from hub.models import Exchange
from hub.operations import packages
from hub.operations.scope import get_exchange
from hub.web.access import role_required
from hub.web.body_limits import allows_body

bp = Blueprint("packages", __name__, url_prefix="/packages")

ROLES = ("officer", "supervisor")


class PackageUploadForm(FlaskForm):
    file = FileField(_l("Sealed package file"), validators=[FileRequired()])


class ReceiptUploadForm(FlaskForm):
    file = FileField(_l("Receipt file"), validators=[FileRequired()])


class ExportForm(FlaskForm):
    """Only the CSRF token: the recipient is the exchange's other party."""


def _id(value: int) -> int:
    return value if value <= 2**31 - 1 else abort(404)


def _download(text: str, filename: str) -> Response:
    return download(text, "application/json", filename)


def _other_party(exchange: Exchange) -> str:
    codes = [exchange.sender.code, exchange.recipient.code]
    return codes[1] if codes[0] == g.actor.organisation_code else codes[0]


def _render_exchange(
    exchange_id: int,
    *,
    receipt_form: FlaskForm | None = None,
    messages: Iterable[object] = (),
    status: int = 200,
) -> ResponseReturnValue:
    exchange = get_exchange(g.actor, exchange_id)
    return (
        render_template(
            "packages/exchange.html",
            x=exchange,
            to=_other_party(exchange),
            exports=packages.exports_of(exchange.id),
            receipts=packages.receipts_of(exchange.id),
            export_form=ExportForm(),
            receipt_form=receipt_form or ReceiptUploadForm(),
            messages=messages,
        ),
        status,
    )


@bp.get("/exchange/<int:exchange_id>")
@role_required(*ROLES)
def for_exchange(exchange_id: int) -> ResponseReturnValue:
    return _render_exchange(_id(exchange_id))


@bp.post("/exchange/<int:exchange_id>/export")
@role_required("officer")
def export(exchange_id: int) -> ResponseReturnValue:
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400)
    exchange = get_exchange(g.actor, _id(exchange_id))
    try:
        result = packages.export(g.actor, exchange.id, _other_party(exchange))
    except ValidationFailed as exc:
        messages = [m for ms in exc.errors.values() for m in ms]
        return _render_exchange(exchange.id, messages=messages, status=422)
    return _download(result.text, result.filename)


@bp.post("/receipt")
@role_required("officer")
def receipt() -> ResponseReturnValue:
    form = ReceiptUploadForm()
    exchange_id = request.args.get("exchange", type=int)
    if not form.validate_on_submit():
        if exchange_id:
            return _render_exchange(_id(exchange_id), receipt_form=form, status=422)
        abort(400)
    data = form.file.data.read(64 * 1024 + 1)
    if len(data) > 64 * 1024:
        form.file.errors = [_("This file is too large to be a receipt.")]
        return _render_exchange(_id(exchange_id or 0), receipt_form=form, status=422)
    try:
        row = packages.record_receipt(g.actor, data)
    except OperationError as exc:
        if not exchange_id:
            raise
        form.file.errors = [exc.message]
        return _render_exchange(_id(exchange_id), receipt_form=form, status=exc.status)
    return redirect(url_for("packages.for_exchange", exchange_id=row.exchange_id))


@bp.route("/import", methods=["GET", "POST"])
@role_required("officer")
@allows_body(packages.MAX_PACKAGE_BYTES)  # attachments travel base64-encoded
def import_package() -> ResponseReturnValue:
    form = PackageUploadForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("packages/import.html", form=form, result=None), status
    try:
        result = packages.import_package(g.actor, form.file.data.read())
    except OperationError as exc:
        form.file.errors = [exc.message]
        return render_template("packages/import.html", form=form, result=None), exc.status
    imported = [db.session.get(Exchange, i) for i in result.exchange_ids]
    return render_template("packages/import.html", form=form, result=result, imported=imported)


@bp.get("/imported/<digest>/receipt")
@role_required(*ROLES)
def imported_receipt(digest: str) -> ResponseReturnValue:
    receipt = packages.imported_receipt(g.actor, digest)
    return _download(receipt, f"receipt-{digest[:16]}.json")
