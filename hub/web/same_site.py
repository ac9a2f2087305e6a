"""Reads that write an audit entry happen only on the hub's own request.

Opening an exchange, downloading an attachment, viewing a case's suspects and
exporting a compliance report each append "who read what" to an audit log. A GET
can be triggered by another site (an image tag, a link in a forged page), which
would make an officer's browser record readings the officer never chose. Browsers
say where a request came from in ``Sec-Fetch-Site``: on ``cross-site`` or
``same-site`` the view is not run; the page asks the officer to continue with a
link of the hub's own, whose request then says ``same-origin``. A request without
the header (an older browser, a script) is served as before; the API authenticates
with bearer tokens, which no other site can make a browser send.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import render_template, request

FOREIGN = frozenset({"cross-site", "same-site"})


def audited_read(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view`` only for a request the hub's own pages (or the user) started."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.headers.get("Sec-Fetch-Site", "").strip().lower() in FOREIGN:
            query = request.query_string.decode("latin-1")
            target = request.path + (f"?{query}" if query else "")
            return render_template("confirm_read.html", target=target)
        return view(*args, **kwargs)

    return wrapper
