"""The one check for a redirect target a request names (`next=`): a local path or nothing.

Every view that redirects to a target taken from the request asks here, before it
changes anything, so a bad target can neither open a redirect to another site nor
fail the response after the state has changed.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import url_for

#: Longest target kept; anything longer is not a path this hub links to.
MAX_TARGET = 2048


def local_target(target: str | None) -> str | None:
    """`target` when it is a path on this hub, else None.

    Refused: other hosts and schemes (`//host`, `https:`), a backslash (browsers
    read `/\\host` as `//host`), and any control character (CR/LF would split the
    Location header; the others have no place in a URL).
    """
    if not target or len(target) > MAX_TARGET:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.netloc or parts.scheme:
        return None
    return target


def next_or_home(target: str | None) -> str:
    """Where to go after an action: the checked target, or the home page."""
    return local_target(target) or url_for("home.index")
