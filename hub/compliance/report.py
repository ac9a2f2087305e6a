"""What the page, the CSV and the PDF show: labels, chart and table data, the exports.

The page and the PDF render the same template (compliance/dashboard.html); the
PDF is that HTML through WeasyPrint, which shapes Lao with HarfBuzz using the
shipped Hub Sans fonts (static/css/fonts.css), fetched from disk, never the
network.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import format_decimal, format_percent
from flask_babel import lazy_gettext as _l

from hub.compliance.charts import PALETTE, Series, bar_chart
from hub.compliance.evaluate import Report
from hub.compliance.rules import rule_for
from hub.i18n import current_language, show_datetime

STATE_LABELS = {
    "met": _l("Met"),
    "at_risk": _l("At risk"),
    "breached": _l("Breached"),
}
EXCHANGE_KIND_LABELS = {
    "request": _l("Request"),
    "response": _l("Response"),
    "alert": _l("Alert"),
    "case_referral": _l("Case referral"),
    "joint_operation": _l("Joint operation"),
    "meeting": _l("Meeting record"),
    "periodic_report": _l("Periodic report"),
    "permission_request": _l("Permission request"),
}
FIGURE_LABELS = {
    "total": _l("Items"),
    "answered": _l("Answered or acknowledged"),
    "on_time": _l("On time"),
    "late": _l("Late"),
    "open": _l("Still open"),
    "overdue": _l("Overdue now"),
    "due_soon": _l("Due within the warning window"),
    "on_time_rate": _l("On-time rate"),
    "median_days": _l("Median response time (days)"),
    "p90_days": _l("90th percentile response time (days)"),
    "longest_days": _l("Longest response time (days)"),
    "limit_days": _l("Limit (days)"),
    "median_hours": _l("Median time to acknowledge (hours)"),
    "p90_hours": _l("90th percentile time to acknowledge (hours)"),
    "longest_hours": _l("Longest time to acknowledge (hours)"),
    "limit_hours": _l("Limit (hours)"),
    "records": _l("Records"),
    "longest_gap_days": _l("Longest gap (days)"),
    "gaps_over": _l("Gaps over the limit"),
    "days_since_last": _l("Days since the last one"),
    "silent_now": _l("Parties silent past the limit"),
}
AUDIT_STATUS_LABELS = {
    "never": _l("Not verified yet"),
    "ok": _l("Verified: intact"),
    "failed": _l("Verification FAILED"),
}


def obligation_label(kind: str) -> str:
    rule = rule_for(kind)
    return str(rule.label) if rule else kind


def figure_value(name: str, value: object) -> str:
    """A figure in the reader's locale: rates as percentages, numbers with separators."""
    if value is None:
        return "–"
    if name.endswith("_rate"):
        return format_percent(value, format="#,##0.#%")
    if isinstance(value, float):
        return format_decimal(value, format="#,##0.##")
    return format_decimal(value)


def org_name(report: Report, organisation_id: int) -> str:
    org = report.organisations.get(organisation_id)
    if org is None:
        return str(organisation_id)
    name = org.name_on(report.period.end)  # None only for an organisation without any name
    return name.short(current_language()) if name else org.code


def direction_label(report: Report, direction: tuple[int, int]) -> str:
    return f"{org_name(report, direction[0])} → {org_name(report, direction[1])}"


#: The PDF names the shipped fonts apart (see static/css/compliance-pdf.css).
PDF_FONTS = "Hub Sans PDF, Hub Sans PDF Lao, sans-serif"


def monthly_charts(report: Report, font_family: str | None = None) -> list[dict]:
    """One stacked chart per direction: exchanges per month, by kind; with its table."""
    months, kinds = report.months(), report.kinds()
    out = []
    for n, direction in enumerate(report.directions()):
        series = [
            Series(
                str(EXCHANGE_KIND_LABELS.get(kind, kind)),
                [report.count(m, direction, kind) for m in months],
                PALETTE[i % len(PALETTE)],
            )
            for i, kind in enumerate(kinds)
        ]
        title = direction_label(report, direction)
        font: dict[str, Any] = {"font_family": font_family} if font_family else {}
        out.append(
            {
                "title": title,
                "svg": bar_chart(
                    title=title,
                    categories=months,
                    series=series,
                    y_label=str(_l("Exchanges")),
                    chart_id=f"monthly-{n}",
                    **font,
                ),
                "kinds": [str(EXCHANGE_KIND_LABELS.get(k, k)) for k in kinds],
                "rows": [(m, [report.count(m, direction, k) for k in kinds]) for m in months],
            }
        )
    return out


def response_chart(report: Report, font_family: str | None = None) -> dict:
    months = report.months()
    values = report.response_monthly
    median = [values.get(m, {}).get("median") for m in months]
    p90 = [values.get(m, {}).get("p90") for m in months]
    reference = None
    if report.response_limit_days:
        reference = (
            float(report.response_limit_days),
            str(_l("Deadline: %(days)s days", days=report.response_limit_days)),
        )
    svg = bar_chart(
        title=str(_l("Response time per month against the deadline")),
        categories=months,
        series=[
            Series(str(_l("Median")), median, PALETTE[0]),
            Series(str(_l("90th percentile")), p90, PALETTE[1]),
        ],
        y_label=str(_l("Days")),
        stacked=False,
        reference=reference,
        chart_id="response",
        **({"font_family": font_family} if font_family else {}),
    )
    rows = [
        (m, values[m]["answered"], values[m]["median"], values[m]["p90"])
        for m in months
        if m in values
    ]
    return {"svg": svg, "rows": rows}


def template_context(report: Report, *, pdf: bool = False) -> dict:
    fonts = PDF_FONTS if pdf else None
    return {
        "report": report,
        "state_labels": STATE_LABELS,
        "figure_labels": FIGURE_LABELS,
        "audit_labels": AUDIT_STATUS_LABELS,
        "obligation_label": obligation_label,
        "headline": lambda kind: rule.headline if (rule := rule_for(kind)) else (),
        "figure_value": figure_value,
        "org_name": lambda oid: org_name(report, oid),
        "monthly_charts": monthly_charts(report, fonts),
        "response": response_chart(report, fonts),
        "exchange_kind_labels": EXCHANGE_KIND_LABELS,
    }


def to_csv(report: Report) -> bytes:
    """One row per figure and per evidence item, in the reader's language.

    UTF-8 with a byte-order mark: spreadsheet programs then read Vietnamese and
    Lao correctly instead of guessing a legacy code page.
    """
    buffer = io.StringIO()
    out = csv.writer(buffer)
    lang = current_language()
    agreement = report.agreement
    out.writerow([str(_l("Agreement")), agreement.code, agreement.title(lang)])
    out.writerow(
        [str(_l("Period")), report.period.start.isoformat(), report.period.end.isoformat()]
    )
    if report.partner is not None:
        out.writerow([str(_l("Partner")), report.partner.code, org_name(report, report.partner.id)])
    out.writerow([str(_l("Evaluated at")), show_datetime(report.now)])
    out.writerow([str(_l("Exchanges in the period")), report.total_exchanges])
    out.writerow([])
    out.writerow(
        [str(_l("Obligation")), str(_l("State")), str(_l("Figure")), str(_l("Value")), "key"]
    )
    for o in report.outcomes:
        for name, value in o.figures.items():
            out.writerow(
                [
                    obligation_label(o.kind),
                    str(STATE_LABELS[o.state]),
                    str(FIGURE_LABELS.get(name, name)),
                    "" if value is None else value,
                    f"{o.kind}.{name}",
                ]
            )
    out.writerow([])
    out.writerow([str(_l("Obligation")), str(_l("Exchange")), str(_l("Sent")), str(_l("Evidence"))])
    for o in report.outcomes:
        for e in o.evidence:
            note = e.note() + (f" ({e.party})" if e.party else "")
            out.writerow([obligation_label(o.kind), e.exchange_id, show_datetime(e.sent_at), note])
    out.writerow([])
    out.writerow(
        [str(_l("Month")), str(_l("From")), str(_l("To")), str(_l("Kind")), str(_l("Exchanges"))]
    )
    for (month, sender, recipient, kind), n in sorted(report.monthly.items()):
        out.writerow(
            [
                month,
                org_name(report, sender),
                org_name(report, recipient),
                str(EXCHANGE_KIND_LABELS.get(kind, kind)),
                n,
            ]
        )
    out.writerow([])
    audit = report.audit.as_dict()
    out.writerow([str(_l("Audit log")), audit["log"], audit["size"]])
    out.writerow(
        [
            str(_l("Verification")),
            str(AUDIT_STATUS_LABELS[audit["status"]]),
            audit["verified_at"] or "",
        ]
    )
    if audit["checkpoint"]:
        out.writerow(
            [
                str(_l("Latest checkpoint")),
                audit["checkpoint"]["size"],
                audit["checkpoint"]["signed_at"],
            ]
        )
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _local_file(url: str, base_url: str) -> Path | None:
    """The file under static/ that a /static/... URL of this hub names, else None."""
    if current_app.static_folder is None:  # the hub always has one
        return None
    static = Path(current_app.static_folder).resolve()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != urlsplit(base_url).netloc:
        return None
    if not parts.path.startswith("/static/"):
        return None
    target = (static / parts.path.removeprefix("/static/")).resolve()
    return target if target.is_file() and target.is_relative_to(static) else None


def _fetcher(base_url: str) -> Any:
    """Serve /static/... (CSS, fonts) from the package folder; refuse anything else,
    so rendering a PDF never touches the network."""
    import mimetypes

    from weasyprint import urls

    def found(url: str) -> Path | None:
        path = _local_file(url, base_url)
        if path is None and not url.startswith("data:"):
            raise ValueError(f"refusing to fetch {url}")
        return path

    def media_type(path: Path) -> str:
        if path.suffix == ".woff2":
            return "font/woff2"
        return mimetypes.guess_type(path.name)[0] or "application/octet-stream"

    if hasattr(urls, "URLFetcher"):  # WeasyPrint 66+

        class StaticFetcher(urls.URLFetcher):
            def fetch(self, url: str, headers: Any = None) -> Any:
                path = found(url)
                if path is None:
                    return super().fetch(url, headers)
                return urls.URLFetcherResponse(
                    url, body=path.read_bytes(), headers={"Content-Type": media_type(path)}
                )

        return StaticFetcher()

    def fetch(
        url: str, *args: Any, **kwargs: Any
    ) -> Any:  # older WeasyPrint: a function returning a dict
        path = found(url)
        if path is None:
            return urls.default_url_fetcher(url, *args, **kwargs)
        return {"string": path.read_bytes(), "mime_type": media_type(path), "redirected_url": url}

    return fetch


def to_pdf(html: str, base_url: str) -> tuple[bytes, int]:
    """The page's HTML as PDF; returns (bytes, page count)."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=base_url, url_fetcher=_fetcher(base_url)).render()
    return document.write_pdf(), len(document.pages)


def filename(report: Report, extension: str) -> str:
    stamp = f"{report.period.start.isoformat()}_{report.period.end.isoformat()}"
    partner = f"_{report.partner.code}" if report.partner else ""
    return f"compliance_{report.agreement.code}{partner}_{stamp}.{extension}"
