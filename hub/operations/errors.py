"""The errors moved to :mod:`hub.errors` (shared by every layer); this name stays
only for code written against the old one while branches in flight land."""

from hub.errors import Conflict, Forbidden, NotFound, OperationError, ValidationFailed

__all__ = ["Conflict", "Forbidden", "NotFound", "OperationError", "ValidationFailed"]
