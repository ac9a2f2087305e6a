"""The home page: what needs the user's attention."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue

from hub.operations import attention
from hub.web.access import login_required

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    items = None if g.actor.is_admin else attention.for_actor(g.actor)
    return render_template("home.html", attention=items)
