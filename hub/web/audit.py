"""The supervisors' audit pages: each agreement's log, its checkpoint, "verify now".

Thin: parse, call hub.operations.audit, render. What is shown of an entry is
decoded from its hashed bytes (leaf_input), the same bytes verify checks.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from hub.audit.entry import parse_time
from hub.models import AuditEntry
from hub.operations import audit as ops
from hub.web import audit_labels as shown
from hub.web.access import role_required

bp = Blueprint("audit", __name__)

PER_PAGE = 50

#: Action codes (stored untranslated in the entries) and their labels. A code not
#: listed here is shown as it is, so a new operation never breaks the page.
ACTIONS = {
    "agreement_created": _l("Agreement created"),
    "attachment_added": _l("Attachment added"),
    "case_opened": _l("Case opened"),
    "case_updated": _l("Case updated"),
    "case_status_changed": _l("Case status changed"),
    "compliance_exported": _l("Compliance report exported"),
    "exchange_sent": _l("Exchange sent"),
    "exchange_acknowledged": _l("Exchange acknowledged"),
    "exchange_case_linked": _l("Exchange linked to a case"),
    "exchange_closed": _l("Exchange closed"),
    "exchange_forwarded": _l("Exchange forwarded"),
    "exchange_marked_for_court": _l("Exchange marked for court use"),
    "exchange_translated": _l("Translation added"),
    "request_answered": _l("Request answered"),
    "permission_granted": _l("Permission granted"),
    "permission_refused": _l("Permission refused"),
    "payload_opened": _l("Sealed content opened"),
    "payload_open_failed": _l("Sealed content failed to open"),
    "package_exported": _l("Sealed package exported"),
    "package_imported": _l("Sealed package imported"),
    "package_receipt_recorded": _l("Package receipt recorded"),
    "seizure_recorded": _l("Seizure recorded"),
    "seizure_removed": _l("Seizure removed"),
    "suspect_recorded": _l("Suspect recorded"),
    "obligation_added": _l("Obligation added"),
    "obligation_changed": _l("Obligation changed"),
    "keys_created": _l("Keys created"),
    "keys_rotated": _l("Keys rotated"),
    "keys_rewrapped": _l("Stored keys re-wrapped"),
    "keys_imported": _l("Partner keys imported"),
    "peer_added": _l("Partner hub registered"),
    "peer_removed": _l("Partner hub removed"),
    "peer_key_added": _l("Partner hub's signing key confirmed"),
    "peer_key_retired": _l("Partner hub's signing key retired"),
    "peer_checkpoint_key_confirmed": _l("Partner hub's checkpoint key confirmed"),
    "checkpoint_cosigned": _l("Partner hub's checkpoint co-signed"),
    "checkpoint_refused": _l("Partner hub's checkpoint refused"),
    "checkpoint_cosignature_received": _l("Checkpoint co-signed by a partner hub"),
    "checkpoint_refused_by_peer": _l("Checkpoint refused by a partner hub"),
    "peer_package_refused": _l("Package refused by the partner hub"),
    "peer_package_requeued": _l("Refused package queued again"),
    "reference_data_loaded": _l("Reference data loaded"),
    "user_added": _l("User added"),
    "user_changed": _l("User changed"),
    "user_disabled": _l("User disabled"),
    "user_enabled": _l("User enabled"),
    "password_set": _l("Password set"),
    "password_changed": _l("Password changed"),
    "password_refused": _l("Current password refused"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "language_set": _l("Language changed"),
    "login": _l("Signed in"),
    "login_failed": _l("Sign-in failed"),
    "login_password_ok": _l("Password accepted, second factor pending"),
    "logout": _l("Signed out"),
    "logout_everywhere": _l("Signed out everywhere"),
    "totp_enrolled": _l("Second factor enrolled"),
    "totp_failed": _l("Second-factor code refused"),
    "totp_removed": _l("Second factor removed"),
    "totp_reset": _l("Second factor reset"),
    "totp_roles_set": _l("Second factor required for roles"),
}


@bp.context_processor
def _helpers() -> dict:
    return {"num": format_decimal}


def action_label(code: str) -> str:
    label = ACTIONS.get(code)
    return str(label) if label is not None else code


def _row(entry: ops.ShownEntry) -> dict:
    """An entry as shown: from its hashed bytes; a row that no longer decodes is
    shown as damaged rather than failing the page (verify names it); one withheld
    (about a case the reader does not see) by its action, record type and hash."""
    fields = entry.fields
    if fields is None:
        return {"index": entry.index, "damaged": True}
    if entry.withheld:
        return {
            "index": entry.index,
            "withheld": True,
            "action_label": action_label(fields["action"]),
            "target": shown.target_type_label(fields["target_type"]),
            "hash": entry.leaf_hash.hex(),
            "damaged": False,
        }
    return {
        "index": fields["index"],
        "time": parse_time(fields["time"]),
        "who": shown.who_label(fields["actor"], fields["organisation"]),
        "action": fields["action"],
        "action_label": action_label(fields["action"]),
        "target": shown.target_label(fields["target_type"], fields["target_id"]),
        "details": shown.detail_list(fields["details"], action=fields["action"]),
        "damaged": False,
    }


@bp.get("/audit")
@role_required("supervisor", "admin")
def index() -> ResponseReturnValue:
    rows = [
        (log, ops.agreement_of(log), ops.latest_checkpoint(log), ops.organisation_of(log))
        for log in ops.visible_logs(g.actor)
    ]
    return render_template("audit/index.html", rows=rows)


@bp.get("/audit/<name>")
@role_required("supervisor", "admin")
def log_page(name: str) -> ResponseReturnValue:
    args = request.args
    filters = {
        "action": args.get("action") or None,
        "organisation": args.get("organisation") or None,
        "target_type": args.get("target_type") or None,
    }
    asked = args.get("page", "1")
    page = int(asked) if asked.isdigit() and 0 < len(asked) < 7 else 1
    log, entries, total = ops.filtered_entries(
        g.actor, name, **filters, page=page, per_page=PER_PAGE
    )
    choices = {
        "action": [
            (c, action_label(c)) for c in ops.distinct_values(g.actor, log, AuditEntry.action)
        ],
        "organisation": [
            (c, shown.organisation_label(c))
            for c in ops.distinct_values(g.actor, log, AuditEntry.organisation)
        ],
        "target_type": [
            (c, shown.target_type_label(c))
            for c in ops.distinct_values(g.actor, log, AuditEntry.target_type)
        ],
    }
    return render_template(
        "audit/log.html",
        log=log,
        agreement=ops.agreement_of(log),
        organisation=ops.organisation_of(log),
        checkpoint=ops.latest_checkpoint(log),
        entries=[_row(e) for e in entries],
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        filters=filters,
        page_args={k: v for k, v in filters.items() if v},
        choices=choices,
    )


@bp.post("/audit/<name>/verify")
@role_required("supervisor", "admin")
def verify_now(name: str) -> ResponseReturnValue:
    result = ops.verify_now(g.actor, name, deep=True)
    if result.ok:
        flash(
            _(
                "Verified: all %(count)s entries and %(checkpoints)s signed checkpoints match.",
                count=result.size,
                checkpoints=result.checkpoints,
            ),
            "success",
        )
    else:
        problem = result.problem
        if problem is None:  # a failed verification always names its problem
            raise RuntimeError("verification failed without a problem")
        flash(shown.verification_failure(problem.kind, problem.index), "error")
    return redirect(url_for("audit.log_page", name=name))


@bp.get("/audit/<name>/checkpoint.txt")
@role_required("supervisor", "admin")
def checkpoint_file(name: str) -> ResponseReturnValue:
    """The signed checkpoint covering the log now, for a partner to keep."""
    row = ops.current_checkpoint(g.actor, name)
    return Response(
        row.note,
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{name}-checkpoint-{row.size}.txt"'},
    )
