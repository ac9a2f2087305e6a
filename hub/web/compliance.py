"""Compliance pages: the dashboard per agreement (and partner), its CSV/PDF exports,
and the administrators' obligation editor.  Thin: parse, call hub.operations, render."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_timedelta
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.routing import BuildError

from hub.compliance import report as reports
from hub.compliance.evaluate import Report
from hub.compliance.rules import REGISTRY
from hub.downloads import download
from hub.errors import NotFound, ValidationFailed
from hub.extensions import db
from hub.i18n import parse_input_date
from hub.models import Agreement
from hub.operations import compliance, cosigning, obligations
from hub.web.access import login_required, role_required
from hub.web.same_site import audited_read

bp = Blueprint("compliance", __name__)


def _period_labels() -> dict[str, str]:
    return {
        "month": _("Month"),
        "quarter": _("Quarter"),
        "year": _("Year"),
        "week": _("Week (ISO, from Monday)"),
        "programme": _("Programme 2021–2025"),
        "custom": _("Custom range"),
    }


def _query() -> dict:
    """The period and partner asked for (checked by the operation). Days are typed as the
    page shows them (day first) and handed on in ISO; what does not parse is handed on
    as typed, for the operation to refuse with the field named."""
    args = request.args
    return {
        "kind": args.get("period") or None,
        "anchor": _typed_day(args.get("on")),
        "start": _typed_day(args.get("from")),
        "end": _typed_day(args.get("to")),
        "partner": args.get("partner") or None,
    }


def _typed_day(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    try:
        return parse_input_date(text).isoformat()
    except ValueError:
        return text


def exchange_link(exchange_id: int) -> str | None:
    """The exchange's page when the exchanges pages are installed."""
    try:
        return url_for("exchanges.view", exchange_id=exchange_id)
    except BuildError:
        return None


@bp.get("/compliance")
@login_required
def index() -> ResponseReturnValue:
    """The agreements the user's organisation is party to."""
    rows = compliance.agreements_reviewed_by(g.actor)
    return render_template("compliance/index.html", agreements=rows)


@bp.get("/agreements/<code>")
@login_required
def agreement(code: str) -> ResponseReturnValue:
    if g.actor.is_admin:
        return redirect(url_for("compliance.obligations_page", code=code))
    return redirect(url_for("compliance.dashboard", code=code))


def _render(code: str, *, pdf: bool = False) -> tuple[Report, str] | tuple[None, tuple[str, int]]:
    query = _query()
    agreement = compliance.agreement_for(g.actor, code)  # NotFound for non-parties
    try:
        report = compliance.review(g.actor, code, **query)
    except ValidationFailed as exc:
        return None, (
            render_template(
                "compliance/dashboard.html",
                agreement=agreement,
                report=None,
                errors=exc.errors,
                query=query,
                period_labels=_period_labels(),
                exchange_link=exchange_link,
            ),
            422,
        )
    context = reports.template_context(report, pdf=pdf)
    html = render_template(
        "compliance/dashboard.html",
        agreement=agreement,
        witnessed=cosigning.witnessed_by(agreement.code),
        format_timedelta=format_timedelta,
        errors={},
        query=query,
        period_labels=_period_labels(),
        exchange_link=exchange_link,
        pdf=pdf,
        **context,
    )
    return report, html


@bp.get("/agreements/<code>/compliance")
@login_required
def dashboard(code: str) -> ResponseReturnValue:
    _report, page = _render(code)
    return page


@bp.get("/agreements/<code>/compliance.csv")
@login_required
@audited_read
def export_csv(code: str) -> ResponseReturnValue:
    report = compliance.review(g.actor, code, **_query())
    body = reports.to_csv(report)
    compliance.record_export(g.actor, report, "csv", body)
    return download(body, "text/csv; charset=utf-8", reports.filename(report, "csv"))


@bp.get("/agreements/<code>/compliance.pdf")
@login_required
@audited_read
def export_pdf(code: str) -> ResponseReturnValue:
    rendered = _render(code, pdf=True)
    if rendered[0] is None:
        return rendered[1]
    report, html = rendered
    body, _pages = reports.to_pdf(html, request.host_url)
    compliance.record_export(g.actor, report, "pdf", body)
    return download(body, "application/pdf", reports.filename(report, "pdf"))


def _agreement_or_404(code: str) -> Agreement:
    row = db.session.scalar(select(Agreement).where(Agreement.code == code))
    if row is None:
        raise NotFound()
    return row


@bp.get("/agreements/<code>/obligations")
@role_required("admin")
def obligations_page(
    code: str, errors: dict | None = None, status: int = 200
) -> ResponseReturnValue:
    agreement = _agreement_or_404(code)
    return render_template(
        "compliance/obligations.html",
        agreement=agreement,
        rules=REGISTRY,
        errors=errors or {},
        form_values=request.form if request.method == "POST" else {},
    ), status


@bp.post("/agreements/<code>/obligations/<int:obligation_id>")
@role_required("admin")
def update_obligation(code: str, obligation_id: int) -> ResponseReturnValue:
    agreement = _agreement_or_404(code)
    existing = next((o for o in agreement.obligations if o.id == obligation_id), None)
    rule = REGISTRY.get(existing.kind) if existing is not None else None
    if rule is None:
        abort(404)
    params = {p.name: request.form.get(f"{obligation_id}-{p.name}", "") for p in rule.params}
    active = request.form.get(f"{obligation_id}-active") == "on"
    try:
        obligations.update_obligation(g.actor, code, obligation_id, params, active=active)
    except ValidationFailed as exc:
        return obligations_page(code, errors={obligation_id: exc.errors}, status=422)
    flash(_("The obligation was saved."), "success")
    return redirect(url_for("compliance.obligations_page", code=code))


@bp.post("/agreements/<code>/obligations")
@role_required("admin")
def add_obligation(code: str) -> ResponseReturnValue:
    _agreement_or_404(code)
    kind = request.form.get("kind", "")
    rule = REGISTRY.get(kind)
    params = {}
    if rule is not None:
        params = {p.name: request.form.get(f"new-{p.name}", "") for p in rule.params}
    try:
        obligations.add_obligation(g.actor, code, kind, params)
    except ValidationFailed as exc:
        return obligations_page(code, errors={"new": exc.errors}, status=422)
    flash(_("The obligation was added."), "success")
    return redirect(url_for("compliance.obligations_page", code=code))
