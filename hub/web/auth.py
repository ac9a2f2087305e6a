"""Login (password, then the TOTP code when due), logout, the language switcher, and the
user's own account page (second factor, logging out everywhere)."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from hub.auth import totp
from hub.auth.sessions import COOKIE
from hub.errors import ValidationFailed
from hub.i18n import LANG_COOKIE, LOCALES
from hub.models import User, UserSession
from hub.operations import accounts
from hub.operations.accounts import LoginFailed, SecondFactorFailed
from hub.operations.actor import Actor
from hub.web.access import login_required
from hub.web.forms import EmptyForm, LanguageForm, LoginForm
from hub.web.redirects import local_target, next_or_home

bp = Blueprint("auth", __name__)

#: What a user who must enrol a second factor may still reach.
_OPEN_WHILE_ENROLLING = {
    "auth.totp_enrol",
    "auth.logout",
    "auth.language",
    "auth.login",
    "auth.login_cancel",
    "static",
}


#: Role names as people read them (the stored values are the English keys).
ROLE_NAMES = {
    "officer": _l("Officer"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
}


@bp.app_context_processor
def _role_names() -> dict[str, object]:
    return {"role_names": ROLE_NAMES}


class CodeForm(FlaskForm):
    # Translators: the six-digit code shown by the authenticator app
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=16)])
    next = HiddenField()


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two do not match."))],
    )


class EnrolForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=16)])
    current = StringField(_l("Code from your current app"), validators=[Length(max=16)])
    candidate = HiddenField(validators=[DataRequired(), Length(max=512)])


def _rotate_csrf() -> None:
    """A new CSRF secret whenever the server-side session starts or ends.

    Flask-WTF keeps the secret in Flask's signed session cookie (and caches the token
    in `g`): dropping both makes the next form get a fresh one, so a token seen
    before login (or by whoever used the browser before the logout) is worthless.
    """
    session.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    g.pop("csrf_token", None)


def _end_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE)
    _rotate_csrf()


def _set_session_cookie(response: Response, token: str) -> None:
    _rotate_csrf()
    settings = current_app.config["HUB"]
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=settings.production,
        max_age=int(timedelta(hours=settings.session_absolute_hours).total_seconds()),
    )


def _pending_row() -> UserSession | None:
    """The session of someone past the password step who still owes the second factor."""
    row = g.get("session_row")
    return row if row is not None and row.pending_totp else None


@bp.before_app_request
def _enrolment_gate() -> ResponseReturnValue | None:
    """A user whose role requires a second factor reaches nothing else until enrolled.

    Covers sessions that began before the requirement was set, too.
    """
    user = g.get("user")
    if user is None or request.path.startswith("/api/") or user.totp_enrolled:
        return None
    if request.endpoint in _OPEN_WHILE_ENROLLING:
        return None
    if accounts.totp_required_for(user):
        return redirect(url_for("auth.totp_enrol"))
    return None


def _after_password(user: User, next_target: str | None) -> Response:
    # The target is checked (and the response built) before the session starts.
    next_target = local_target(next_target)
    due = accounts.second_factor_due(user)
    if due == "verify":
        target = url_for("auth.login_code", next=next_target)
    elif due == "enrol":
        target = url_for("auth.totp_enrol")
    else:
        target = next_target or url_for("home.index")
    response = make_response(redirect(target))
    token = accounts.log_in(user, pending_totp=due is not None, replacing=g.get("session_row"))
    _set_session_cookie(response, token)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    pending = _pending_row()
    if request.method == "GET" and pending is not None:
        # Half-way through: carry on where they left off.
        if pending.user.totp_enrolled:
            return redirect(url_for("auth.login_code"))
        return redirect(url_for("auth.totp_enrol"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = local_target(request.args.get("next")) or ""
    if form.validate_on_submit():
        settings = current_app.config["HUB"]
        try:
            user = accounts.authenticate(
                form.username.data,
                form.password.data,
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            )
        except LoginFailed as exc:
            flash(str(exc.message), "error")
            return render_template("auth/login.html", form=form), 401
        return _after_password(user, form.next.data)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    pending = _pending_row()
    if pending is None or not pending.user.totp_enrolled:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if request.method == "GET":
        form.next.data = local_target(request.args.get("next")) or ""
    if form.validate_on_submit():
        settings = current_app.config["HUB"]
        try:
            token = accounts.complete_second_factor(
                pending,
                form.code.data,
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            )
        except SecondFactorFailed as exc:
            flash(str(exc.message), "error")
            return render_template("auth/code.html", form=form), 401
        except LoginFailed as exc:
            flash(str(exc.message), "error")
            response = make_response(redirect(url_for("auth.login")))
            _end_session_cookie(response)
            return response
        response = make_response(redirect(next_or_home(form.next.data)))
        _set_session_cookie(response, token)
        return response
    status = 400 if form.is_submitted() else 200
    return render_template("auth/code.html", form=form), status


@bp.route("/login/cancel", methods=["POST"])
def login_cancel() -> ResponseReturnValue:
    """Give up half-way through a login: the pending session ends."""
    pending = _pending_row()
    if EmptyForm().validate_on_submit() and pending is not None:
        accounts.log_out(Actor.for_user(pending.user), pending)
    response = make_response(redirect(url_for("auth.login")))
    _end_session_cookie(response)
    return response


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    accounts.log_out(g.actor, g.session_row, everywhere=False)
    response = make_response(redirect(url_for("auth.login")))
    _end_session_cookie(response)
    return response


@bp.route("/language", methods=["POST"])
def language() -> ResponseReturnValue:
    form = LanguageForm()
    response = make_response(redirect(next_or_home(form.next.data)))
    chosen = form.language.data if form.validate_on_submit() else None
    if chosen in LOCALES:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax")
        if g.get("actor") is not None:
            accounts.set_language(g.actor, chosen)
    else:
        flash(_("That language is not available."), "error")
    return response


# --- the user's own account --------------------------------------------------------------


@bp.route("/account")
@login_required
def account() -> ResponseReturnValue:
    return render_template(
        "auth/account.html",
        user=g.user,
        required=accounts.totp_required_for(g.user),
        password_form=ChangePasswordForm(formdata=None),
    )


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_own_password(
                g.actor, g.session_row, current=form.current.data, new=form.password.data
            )
        except ValidationFailed as exc:
            for messages in exc.errors.values():
                for message in messages:
                    flash(str(message), "error")
        else:
            flash(_("Your password is changed; your other sessions have ended."), "status")
    else:
        for messages in form.errors.values():
            for message in messages:
                flash(str(message), "error")
    return redirect(url_for("auth.account"))


@bp.route("/account/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere() -> ResponseReturnValue:
    if not EmptyForm().validate_on_submit():
        abort(400)
    accounts.log_out(g.actor, g.session_row, everywhere=True)
    flash(_("You are logged out on every device, and your API tokens are revoked."), "status")
    response = make_response(redirect(url_for("auth.login")))
    _end_session_cookie(response)
    return response


def _enrolling_user() -> tuple[User | None, UserSession | None]:
    """Who is enrolling: a signed-in user, or one pending enrolment after the password."""
    if g.get("user") is not None:
        return g.user, None
    pending = _pending_row()
    if pending is not None and not pending.user.totp_enrolled:
        return pending.user, pending
    return None, None


@bp.route("/account/totp", methods=["GET", "POST"])
def totp_enrol() -> ResponseReturnValue:
    user, pending = _enrolling_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        try:
            token = accounts.confirm_enrolment(
                user,
                form.candidate.data,
                form.code.data,
                session_row=pending,
                current_code=form.current.data,
            )
        except ValidationFailed as exc:
            for messages in exc.errors.values():
                for message in messages:
                    flash(str(message), "error")
            status = exc.status
        else:
            flash(_("Your second factor is on. Each code works once."), "status")
            response = make_response(redirect(url_for("auth.account")))
            if token is not None:
                _set_session_cookie(response, token)
            return response
    elif form.is_submitted():
        status = 400
    enrolment = None
    if form.candidate.data:
        enrolment = accounts.reopen_enrolment(user, form.candidate.data)
    if enrolment is None:
        enrolment = accounts.begin_enrolment(user)
    form.candidate.data = enrolment.candidate
    form.code.data = ""
    form.current.data = ""
    qr = totp.qr_svg(enrolment.uri, _("QR code for your authenticator app"))
    response = make_response(
        render_template(
            "auth/enrol.html",
            form=form,
            enrolment=enrolment,
            qr=qr,
            forced=pending is not None,
            user=user,
        ),
        status,
    )
    # The page shows a secret: never keep it in a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/totp/remove", methods=["POST"])
@login_required
def totp_remove() -> ResponseReturnValue:
    form = CodeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        accounts.remove_own_totp(g.actor, form.code.data)
    except ValidationFailed as exc:
        for message in exc.errors.get("code", []):
            flash(str(message), "error")
    else:
        flash(_("Your second factor is off."), "status")
    return redirect(url_for("auth.account"))
