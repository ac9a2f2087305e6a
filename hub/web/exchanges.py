"""Exchange pages: list, view, record (with attachments), acknowledge, respond, translate.

Views parse the form, call hub.operations, and render; a refused input comes
back as the same form with each field's message and status 422.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta, timezone
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from hub.downloads import download
from hub.errors import NotFound, ValidationFailed
from hub.i18n import current_language
from hub.models import Case, Exchange
from hub.operations import attachments, exchanges, listing, pickers, scope
from hub.operations.permissions import REQUEST_KINDS
from hub.web.access import login_required, role_required
from hub.web.exchange_forms import ExchangeFilterForm, ExchangeForm, TranslationForm
from hub.web.forms import EmptyForm
from hub.web.labels import EXCHANGE_KIND, options
from hub.web.same_site import audited_read
from hub.web.show import apply_errors

bp = Blueprint("exchanges", __name__, url_prefix="/exchanges")

#: Times typed in the forms are local to the border provinces (UTC+7, no DST).
LOCAL = timezone(timedelta(hours=7))


def _id(value: int) -> int:
    # Route converters accept any digits; beyond a database id nothing exists.
    return value if value <= 2**31 - 1 else abort(404)


# What an exchange links to (its case, the exchange it answers, its replies), in every
# template, only as far as the viewer sees it: hub.operations.scope decides.


@bp.app_template_global("linked_case")
def _linked_case(exchange: Exchange) -> Case | None:
    return scope.linked_case(g.actor, exchange)


@bp.app_template_global("case_reference")
def _case_reference(case: Case) -> str:
    return pickers.case_reference(g.actor, case)


@bp.app_template_global("replied_to")
def _replied_to(exchange: Exchange) -> Exchange | None:
    return scope.replied_to(g.actor, exchange)


@bp.app_template_global("replies_to")
def _replies_to(exchange: Exchange) -> list[Exchange]:
    return scope.replies(g.actor, exchange)


# --- list ----------------------------------------------------------------------------


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    lang = current_language()
    form = ExchangeFilterForm(request.args)
    form.agreement.choices = options(pickers.agreements(g.actor, lang), blank=_("Any"))
    form.partner.choices = options(pickers.partners(g.actor, lang), blank=_("Any"))
    form.validate()
    filters = listing.ExchangeFilters(
        q=form.q.data or None,
        agreement=form.agreement.data or None,
        partner=form.partner.data or None,
        kind=form.kind.data or None,
        status=form.status.data or None,
        classification=form.classification.data or None,
        case=form.case.data if not form.case.errors else None,
        date_from=form.sent_from.data if not form.sent_from.errors else None,
        date_to=form.sent_to.data if not form.sent_to.errors else None,
        overdue=True if form.overdue.data else None,
    )
    page_number = request.args.get("page", "1")
    page = None
    status = 200
    try:
        number = int(page_number) if page_number.isdigit() else 0
        page = listing.list_exchanges(g.actor, filters, page=number)
    except ValidationFailed as exc:
        apply_errors(form, exc.errors, aliases={"date_from": "sent_from", "date_to": "sent_to"})
        status = 422
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return (
        render_template("exchanges/list.html", form=form, page=page, args=args),
        status,
    )


# --- view ----------------------------------------------------------------------------


@bp.get("/<int:exchange_id>")
@login_required
@audited_read
def view(exchange_id: int) -> ResponseReturnValue:
    return _render_view(exchange_id)


def _render_view(
    exchange_id: int, *, translation_form: FlaskForm | None = None, status: int = 200
) -> ResponseReturnValue:
    actor = g.actor
    exchange = exchanges.load_for_view(actor, _id(exchange_id))
    lang = current_language()
    opened = exchanges.read(actor, exchange, language=lang)
    mine_out = exchange.sender_id == actor.organisation_id
    mine_in = exchange.recipient_id == actor.organisation_id
    can_write = actor.is_officer
    return (
        render_template(
            "exchanges/view.html",
            x=exchange,
            opened=opened,
            ack_form=EmptyForm(),
            translation_form=translation_form or TranslationForm(language=lang),
            can_acknowledge=can_write and mine_in and exchange.acknowledged_at is None,
            can_respond=can_write
            and mine_in
            and exchange.kind in REQUEST_KINDS
            and exchange.status != "closed",
            can_translate=can_write,
            can_reply=can_write and (mine_in or mine_out),
            day=exchange.sent_at.date(),
        ),
        status,
    )


@bp.post("/<int:exchange_id>/acknowledge")
@role_required("officer")
def acknowledge(exchange_id: int) -> ResponseReturnValue:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    exchanges.acknowledge(g.actor, _id(exchange_id))
    return redirect(url_for(".view", exchange_id=exchange_id), 303)


@bp.post("/<int:exchange_id>/translations")
@role_required("officer")
def translate(exchange_id: int) -> ResponseReturnValue:
    form = TranslationForm()
    if not form.validate_on_submit():
        return _render_view(exchange_id, translation_form=form, status=422)
    try:
        exchanges.add_translation(
            g.actor, _id(exchange_id), language=form.language.data, body=form.body.data or ""
        )
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _render_view(exchange_id, translation_form=form, status=422)
    return redirect(url_for(".view", exchange_id=exchange_id) + "#texts", 303)


@bp.get("/<int:exchange_id>/attachments/<int:attachment_id>")
@login_required
@audited_read
def attachment(exchange_id: int, attachment_id: int) -> ResponseReturnValue:
    opened = attachments.open_attachment(g.actor, _id(exchange_id), _id(attachment_id))
    return download(opened.data, opened.media_type, opened.filename)


# --- record / respond ------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@role_required("officer")
def new() -> ResponseReturnValue:
    reply_to = _reply_target()
    if request.method == "GET":
        form = ExchangeForm(formdata=None, data=_defaults(reply_to))
        _fill(form, reply_to)
        return render_template("exchanges/new.html", form=form, reply_to=reply_to, errors=[])
    form = ExchangeForm()
    _fill(form, reply_to)
    if not form.validate_on_submit():
        return _reshow(form, reply_to, [])
    files = [(u.filename, u.read()) for u in form.attachments.data or [] if u and u.filename]
    try:
        exchange = exchanges.send_with_attachments(g.actor, _new_exchange(form, reply_to), files)
    except ValidationFailed as exc:
        leftover = apply_errors(
            form, exc.errors, aliases={"file": "attachments", "filename": "attachments"}
        )
        return _reshow(form, reply_to, leftover)
    return redirect(url_for(".view", exchange_id=exchange.id), 303)


@bp.route("/<int:exchange_id>/respond", methods=["GET"])
@login_required
def respond(exchange_id: int) -> ResponseReturnValue:
    exchanges.visible_exchange(g.actor, _id(exchange_id))
    return redirect(url_for(".new", in_reply_to=exchange_id, kind="response"))


def _reshow(
    form: ExchangeForm, reply_to: Exchange | None, leftover: Iterable[object]
) -> ResponseReturnValue:
    return (
        render_template("exchanges/new.html", form=form, reply_to=reply_to, errors=leftover),
        422,
    )


def _reply_target() -> Exchange | None:
    raw = request.values.get("in_reply_to", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise NotFound()
    return exchanges.visible_exchange(g.actor, _id(int(raw)))


def _defaults(reply_to: Exchange | None) -> dict[str, Any]:
    data = {
        "classification": "restricted",
        "reliability": "F",
        "credibility": "6",
        "handling": "H0",
        "case": request.args.get("case", ""),
        "kind": request.args.get("kind", "request"),
    }
    if reply_to is not None:
        org = g.actor.organisation_id
        partner = reply_to.recipient if reply_to.sender_id == org else reply_to.sender
        data.update(
            agreement=reply_to.agreement.code,
            recipient=partner.code,
            in_reply_to=str(reply_to.id),
            case=str(scope.linked_case_id(g.actor, reply_to) or ""),
            classification=reply_to.classification,
            handling=reply_to.handling,
            handling_note=reply_to.handling_note,
            subject=_reply_subject(reply_to.subject),
        )
        if reply_to.recipient_id == org and reply_to.kind in REQUEST_KINDS:
            data["kind"] = "response"
    return data


def _reply_subject(subject: str) -> str:
    prefix = _("Re:") + " "
    return subject if subject.startswith(prefix) else (prefix + subject)[:200]


def _fill(form: ExchangeForm, reply_to: Exchange | None) -> None:
    lang = current_language()
    form.agreement.choices = options(pickers.agreements(g.actor, lang))
    form.recipient.choices = options(pickers.partners(g.actor, lang))
    # A permission request only makes sense as a reply to a restricted exchange.
    kinds = [(k, v) for k, v in EXCHANGE_KIND.items() if reply_to or k != "permission_request"]
    form.kind.choices = options(kinds)
    keep = form.case.data if form.case.data and str(form.case.data).isdigit() else None
    form.case.choices = options(
        pickers.recent_cases(g.actor, int(keep) if keep else None), blank=_("None")
    )


def _new_exchange(form: ExchangeForm, reply_to: Exchange | None) -> exchanges.NewExchange:
    sent_at = form.sent_at.data
    if sent_at is not None:
        sent_at = sent_at.replace(tzinfo=LOCAL).astimezone(UTC)
    granted = form.permission_granted.data
    return exchanges.NewExchange(
        agreement=form.agreement.data or "",
        recipient=form.recipient.data or "",
        kind=form.kind.data or "",
        subject=form.subject.data or "",
        body=form.body.data or "",
        classification=form.classification.data or "",
        reliability=form.reliability.data or "",
        credibility=int(form.credibility.data) if (form.credibility.data or "").isdigit() else 0,
        handling=form.handling.data or "",
        handling_note=form.handling_note.data or "",
        sent_at=sent_at,
        case=int(form.case.data) if (form.case.data or "").isdigit() else None,
        in_reply_to=reply_to.id if reply_to is not None else None,
        language=current_language(),
        permission_granted={"yes": True, "no": False}.get(granted) if granted else None,
    )
