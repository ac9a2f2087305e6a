"""The administrator's pages for partner hubs: the list (queue, last contact, last error),
registering one, one peer's keys and queue, removing it. Every change goes through
hub.operations.peers."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from hub.errors import Conflict, ValidationFailed
from hub.i18n import show_datetime
from hub.models import Exchange
from hub.operations import admin as reference_reads
from hub.operations import outbox, peers, witness
from hub.web import labels
from hub.web.access import role_required
from hub.web.forms import EmptyForm

bp = Blueprint("peers", __name__, url_prefix="/admin/peers")


class PeerForm(FlaskForm):
    name = StringField(_l("Short name"), validators=[Optional(), Length(max=64)])
    url = StringField(_l("Address"), validators=[Optional(), Length(max=500)])
    organisations = SelectMultipleField(
        _l("Organisations on that hub"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[Optional()],
    )
    fingerprints = TextAreaField(
        _l("Signing key fingerprints, as read out by its administrator"),
        validators=[Optional(), Length(max=4000)],
    )


@bp.app_template_global("delivery_note")
def delivery_note(exchange: Exchange) -> str | None:
    """Queued / delivered / received by the partner's hub, for the exchange page."""
    state = outbox.delivery_state(exchange)
    if state is None:
        return None
    if state["state"] == outbox.STATE_REFUSED:
        return _(
            "Refused by the partner's hub %(peer)s (%(part)s): it did not arrive and is not "
            "sent again until an administrator does so. Its answer: %(answer)s",
            peer=state["peer"],
            part=labels.PACKAGE_KIND.get(state["refused_kind"], state["refused_kind"]),
            answer=state["refused_answer"] or "—",
        )
    if state["state"] == outbox.STATE_QUEUED:
        if state["last_attempt_at"]:
            return _(
                "Queued for the partner's hub %(peer)s: not delivered yet (last tried %(when)s).",
                peer=state["peer"],
                when=show_datetime(state["last_attempt_at"]),
            )
        return _("Queued for the partner's hub %(peer)s.", peer=state["peer"])
    if state["state"] == outbox.STATE_RECEIVED:
        return _(
            "Received by the partner's hub %(peer)s (signed receipt, %(when)s).",
            peer=state["peer"],
            when=show_datetime(state["received_at"]),
        )
    return _("Delivered to the partner's hub %(peer)s.", peer=state["peer"])


def _partner_choices() -> list[tuple[str, str]]:
    from hub.i18n import current_language

    lang = current_language()
    own = peers.own_organisations()
    choices = []
    for org in reference_reads.organisations(g.actor):
        if org.code in own:
            continue
        name = org.name_on()  # None only for an organisation without any name
        choices.append((org.code, f"{org.code} · {name.short(lang)}" if name else org.code))
    return choices


def _imported_keys(choices: Iterable[tuple[str, object]]) -> list[tuple[str, int, str]]:
    return [
        (code, version, fp)
        for code, _label in choices
        for version, fp in peers.partner_signing_keys(code)
    ]


@bp.route("/")
@role_required("admin")
def index() -> ResponseReturnValue:
    return render_template("admin/peers.html", rows=peers.list_peers(g.actor))


@bp.route("/new", methods=["GET", "POST"])
@role_required("admin")
def new() -> ResponseReturnValue:
    form = PeerForm()
    form.organisations.choices = _partner_choices()
    errors: dict = {}
    status = 200
    if form.validate_on_submit():
        try:
            peer = peers.add(
                g.actor,
                peers.NewPeer(
                    name=form.name.data or "",
                    url=form.url.data or "",
                    organisations=form.organisations.data or [],
                    fingerprints=(form.fingerprints.data or "").split(),
                ),
            )
        except ValidationFailed as exc:
            errors = {field: [str(m) for m in messages] for field, messages in exc.errors.items()}
            status = 422
        else:
            flash(_("Partner hub %(name)s registered.", name=peer.name), "status")
            return redirect(url_for("peers.show", name=peer.name))
    elif form.is_submitted():
        errors = form.errors
        status = 422
    return render_template(
        "admin/peer_new.html",
        form=form,
        errors=errors,
        keys=_imported_keys(form.organisations.choices),
    ), status


@bp.route("/<name>")
@role_required("admin")
def show(name: str) -> ResponseReturnValue:
    status = peers.status(g.actor, name)
    return render_template(
        "admin/peer.html",
        s=status,
        queue=peers.queued_items(g.actor, name),
        refused=peers.refused_items(g.actor, name),
        kinds=labels.PACKAGE_KIND,
        witnessing=witness.admin_view(g.actor, name),
        unconfirmed=peers.unconfirmed_keys(g.actor, name),
        key_form=KeyForm(),
        form=EmptyForm(),
    )


class KeyForm(FlaskForm):
    fingerprint = StringField(
        _l("Fingerprint, as read out by its administrator"),
        validators=[Optional(), Length(max=200)],
    )


@bp.route("/<name>/keys", methods=["POST"])
@role_required("admin")
def add_key(name: str) -> ResponseReturnValue:
    form = KeyForm()
    if form.validate_on_submit():
        try:
            key = peers.add_key(g.actor, name, form.fingerprint.data or "")
        except ValidationFailed as exc:
            for messages in exc.errors.values():
                for message in messages:
                    flash(str(message), "error")
        else:
            flash(
                _(
                    "Signing key %(version)s of %(org)s confirmed for %(name)s.",
                    version=key.key_version,
                    org=key.org_code,
                    name=name,
                ),
                "status",
            )
    return redirect(url_for("peers.show", name=name))


@bp.route("/<name>/keys/<fingerprint>/retire", methods=["POST"])
@role_required("admin")
def retire_key(name: str, fingerprint: str) -> ResponseReturnValue:
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            key = peers.retire_key(g.actor, name, fingerprint)
        except Conflict as exc:
            flash(str(exc.message), "error")
        else:
            flash(
                _(
                    "Signing key %(version)s of %(org)s retired: what it signs is refused.",
                    version=key.key_version,
                    org=key.org_code,
                ),
                "status",
            )
    return redirect(url_for("peers.show", name=name))


@bp.route("/<name>/send-again", methods=["POST"])
@role_required("admin")
def send_again(name: str) -> ResponseReturnValue:
    form = EmptyForm()
    if form.validate_on_submit():
        done = peers.send_again(g.actor, name)
        flash(
            ngettext(
                "%(num)d refused package queued again.",
                "%(num)d refused packages queued again.",
                len(done),
            ),
            "status",
        )
    return redirect(url_for("peers.show", name=name))


@bp.route("/<name>/remove", methods=["POST"])
@role_required("admin")
def remove(name: str) -> ResponseReturnValue:
    form = EmptyForm()
    if form.validate_on_submit():
        peers.remove(g.actor, name)
        flash(
            _("Partner hub %(name)s removed: nothing more is delivered to it.", name=name), "status"
        )
    return redirect(url_for("peers.show", name=name))
