"""The administrator's pages: accounts, API tokens, second-factor policy, and a read-only
view of organisations and agreements.  Every change goes through hub.operations.accounts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from hub.errors import ValidationFailed
from hub.models.user import ROLES
from hub.operations import accounts
from hub.operations import admin as reference_reads
from hub.web.access import role_required
from hub.web.auth import ROLE_NAMES
from hub.web.forms import EmptyForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

LANGUAGE_NAMES = {"": _l("Not set (from the browser)"), "vi": "Tiếng Việt", "lo": "ພາສາລາວ"}
LANGUAGE_NAMES["en"] = "English"


def _role_choices() -> list[tuple[str, object]]:
    return [(role, ROLE_NAMES[role]) for role in ROLES]


def _organisation_choices() -> list[tuple[str, str]]:
    from hub.i18n import current_language

    lang = current_language()
    choices = []
    for org in reference_reads.organisations(g.actor):
        name = org.name_on()  # None only for an organisation without any name
        choices.append((org.code, f"{org.code} · {name.short(lang)}" if name else org.code))
    return choices


class AddUserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Full name"), validators=[Optional(), Length(max=128)])
    organisation = SelectField(_l("Organisation"), validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    language = SelectField(_l("Language"), validators=[Optional()])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class RoleForm(FlaskForm):
    organisation = SelectField(_l("Organisation"), validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])


class TokenForm(FlaskForm):
    # Translators: a short note saying what an API token is for, e.g. "reporting script"
    label = StringField(_l("What it is for"), validators=[Optional(), Length(max=64)])


class TotpRolesForm(FlaskForm):
    roles = SelectMultipleField(
        _l("Roles that must use a second factor"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[Optional()],
    )


def _fill_choices(form: FlaskForm) -> None:
    if hasattr(form, "organisation"):
        form.organisation.choices = _organisation_choices()
    if hasattr(form, "role"):
        form.role.choices = _role_choices()
    if hasattr(form, "language"):
        form.language.choices = list(LANGUAGE_NAMES.items())


def _flash_errors(exc: ValidationFailed) -> None:
    for messages in exc.errors.values():
        for message in messages:
            flash(str(message), "error")


@bp.app_template_global()
def page_if_installed(endpoint: str, **values: Any) -> str | None:
    """A link into another part of the hub (e.g. the compliance pages, where agreements and
    their obligations are edited), or None when that part is not installed."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


@bp.route("/")
@role_required("admin")
def index() -> ResponseReturnValue:
    return redirect(url_for("admin.users"))


@bp.route("/users")
@role_required("admin")
def users() -> ResponseReturnValue:
    return render_template(
        "admin/users.html",
        users=accounts.list_users(g.actor),
        required=accounts.totp_required_roles(),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def user_new() -> ResponseReturnValue:
    form = AddUserForm()
    _fill_choices(form)
    errors: dict = {}
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.add_user(
                g.actor,
                username=form.username.data,
                password=form.password.data,
                organisation_code=form.organisation.data,
                role=form.role.data,
                display_name=form.display_name.data or None,
                language=form.language.data or None,
            )
        except ValidationFailed as exc:
            errors = {field: [str(m) for m in messages] for field, messages in exc.errors.items()}
            status = 422
        else:
            flash(_("Account %(username)s added.", username=user.username), "status")
            return redirect(url_for("admin.user", username=user.username))
    elif form.is_submitted():
        errors = form.errors
        status = 422
    return render_template("admin/user_new.html", form=form, errors=errors), status


def _user_page(
    username: str, *, new_token: str | None = None, status: int = 200
) -> ResponseReturnValue:
    user = accounts.get_user(g.actor, username)
    role_form = RoleForm(
        formdata=None, data={"organisation": user.organisation.code, "role": user.role}
    )
    _fill_choices(role_form)
    return render_template(
        "admin/user.html",
        user=user,
        tokens=accounts.tokens_of(g.actor, username),
        role_form=role_form,
        password_form=PasswordForm(formdata=None),
        token_form=TokenForm(formdata=None),
        form=EmptyForm(),
        new_token=new_token,
        totp_required=accounts.totp_required_for(user),
    ), status


@bp.route("/users/<username>")
@role_required("admin")
def user(username: str) -> ResponseReturnValue:
    return _user_page(username)


@bp.route("/users/<username>/role", methods=["POST"])
@role_required("admin")
def user_role(username: str) -> ResponseReturnValue:
    form = RoleForm()
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            accounts.set_role(
                g.actor, username, role=form.role.data, organisation_code=form.organisation.data
            )
        except ValidationFailed as exc:
            _flash_errors(exc)
        else:
            flash(_("Role and organisation saved."), "status")
    else:
        flash(_("Some fields need correcting."), "error")
    return redirect(url_for("admin.user", username=username))


@bp.route("/users/<username>/password", methods=["POST"])
@role_required("admin")
def user_password(username: str) -> ResponseReturnValue:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(g.actor, username, form.password.data)
        except ValidationFailed as exc:
            _flash_errors(exc)
        else:
            flash(
                _("Password set; the account's sessions ended and its API tokens are revoked."),
                "status",
            )
    else:
        flash(_("Some fields need correcting."), "error")
    return redirect(url_for("admin.user", username=username))


@bp.route("/users/<username>/disable", methods=["POST"])
@role_required("admin")
def user_disable(username: str) -> ResponseReturnValue:
    EmptyForm().validate_on_submit()  # CSRF is checked globally; nothing else to parse
    try:
        accounts.disable_user(g.actor, username)
    except ValidationFailed as exc:
        _flash_errors(exc)
    else:
        flash(_("Account disabled; its sessions have ended."), "status")
    return redirect(url_for("admin.user", username=username))


@bp.route("/users/<username>/enable", methods=["POST"])
@role_required("admin")
def user_enable(username: str) -> ResponseReturnValue:
    accounts.enable_user(g.actor, username)
    flash(_("Account enabled."), "status")
    return redirect(url_for("admin.user", username=username))


@bp.route("/users/<username>/totp-reset", methods=["POST"])
@role_required("admin")
def user_totp_reset(username: str) -> ResponseReturnValue:
    accounts.reset_totp(g.actor, username)
    flash(_("Second factor cleared; the account must set it up again."), "status")
    return redirect(url_for("admin.user", username=username))


@bp.route("/users/<username>/tokens", methods=["POST"])
@role_required("admin")
def token_create(username: str) -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("Some fields need correcting."), "error")
        return redirect(url_for("admin.user", username=username))
    try:
        token = accounts.create_token(g.actor, username, form.label.data or "")
    except ValidationFailed as exc:
        _flash_errors(exc)
        return redirect(url_for("admin.user", username=username))
    # Shown in this answer only (never flashed: the flash would sit in a cookie).
    response = _user_page(username, new_token=token, status=201)
    return response


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("admin")
def token_revoke(token_id: int) -> ResponseReturnValue:
    row = accounts.revoke_token(g.actor, token_id)
    flash(_("Token revoked."), "status")
    return redirect(url_for("admin.user", username=row.user.username))


@bp.route("/security", methods=["GET", "POST"])
@role_required("admin")
def security() -> ResponseReturnValue:
    form = TotpRolesForm()
    form.roles.choices = _role_choices()
    if form.validate_on_submit():
        try:
            accounts.set_totp_required_roles(g.actor, form.roles.data or [])
        except ValidationFailed as exc:
            _flash_errors(exc)
        else:
            flash(_("Second-factor policy saved."), "status")
            return redirect(url_for("admin.security"))
    elif not form.is_submitted():
        form.roles.data = sorted(accounts.totp_required_roles())
    return render_template(
        "admin/security.html",
        form=form,
        production=current_app.config["HUB"].production,
    )


@bp.route("/organisations")
@role_required("admin")
def organisations() -> ResponseReturnValue:
    return render_template(
        "admin/organisations.html",
        organisations=reference_reads.organisations(g.actor),
        agreements=reference_reads.agreements(g.actor),
    )
