"""Typed outcomes of a refused operation; the faces turn them into 4xx answers.

Neutral: every layer (crypto excepted, which raises its own), operations and
the faces may import this module, and it imports nothing of the hub. Messages
are lazy strings: they are translated when shown, in the reader's language.
"""

from __future__ import annotations

from typing import TypeAlias

from flask_babel import lazy_gettext as _l

#: A message shown to the user: a str, or a lazy string translated when shown.
Message: TypeAlias = object


class OperationError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: Message | None = None) -> None:
        super().__init__(str(message) if message is not None else self.code)
        self.message: Message = (
            message if message is not None else _l("The request could not be done.")
        )


class ValidationFailed(OperationError):
    """Input that breaks a rule; `errors` maps each field to its messages."""

    status = 422
    code = "validation_failed"

    def __init__(self, errors: dict[str, list[Message]]) -> None:
        super().__init__(_l("Some fields need correcting."))
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: Message) -> ValidationFailed:
        return cls({field: [message]})


class NotFound(OperationError):
    """Also what another organisation's record looks like: its existence is not revealed."""

    status = 404
    code = "not_found"

    def __init__(self, message: Message | None = None) -> None:
        super().__init__(message if message is not None else _l("Not found."))


class Forbidden(OperationError):
    status = 403
    code = "forbidden"

    def __init__(self, message: Message | None = None) -> None:
        super().__init__(message if message is not None else _l("You may not do this."))


class Conflict(OperationError):
    status = 409
    code = "conflict"
