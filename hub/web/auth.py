"""Login, logout and the language switcher."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _

from hub.auth.sessions import COOKIE
from hub.i18n import LANG_COOKIE, LOCALES
from hub.operations import accounts
from hub.operations.accounts import LoginFailed
from hub.web.access import login_required
from hub.web.forms import EmptyForm, LanguageForm, LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect after login is a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme:
            return target
    return url_for("home.index")


def _set_session_cookie(response, token: str) -> None:
    settings = current_app.config["HUB"]
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=settings.production,
        max_age=int(timedelta(hours=settings.session_absolute_hours).total_seconds()),
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
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
        token = accounts.log_in(user, pending_totp=False)
        response = make_response(redirect(_safe_next(form.next.data)))
        _set_session_cookie(response, token)
        return response
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        accounts.log_out(g.actor, g.session_row, everywhere=False)
    response = make_response(redirect(url_for("auth.login")))
    response.delete_cookie(COOKIE)
    return response


@bp.route("/language", methods=["POST"])
def language():
    form = LanguageForm()
    response = make_response(redirect(_safe_next(form.next.data)))
    chosen = form.language.data if form.validate_on_submit() else None
    if chosen in LOCALES:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax")
        if g.get("actor") is not None:
            accounts.set_language(g.actor, chosen)
    else:
        flash(_("That language is not available."), "error")
    return response
