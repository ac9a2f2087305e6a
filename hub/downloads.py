"""One rule for every file the hub hands out (attachments, sealed packages, reports),
on the pages and in the API alike."""

from __future__ import annotations

from flask import Response


def download(body: bytes | str, content_type: str, filename: str) -> Response:
    """`body` as a file to save, never to render or keep.

    `content_type` is sent exactly as given (a charset only if it names one), with
    `nosniff` so the browser does not guess another type, and `no-store` so no cache
    (the browser's, a proxy's) keeps a copy of sealed content once it is opened.
    """
    response = Response(body, content_type=content_type)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
