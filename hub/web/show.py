"""Putting an operation's refusal back on the form that caused it."""

from __future__ import annotations

from typing import Any

from wtforms import Form


def apply_errors(form: Form, errors: dict, *, aliases: dict | None = None) -> list:
    """Attach each message to its field; return the messages no field of the form shows.

    Operations name fields as the API does ("seizures.0.quantity"); a FieldList
    row is reached through its index, an alias maps an operation's name to the
    form's ("file" -> "attachments").
    """
    aliases = aliases or {}
    leftover = []
    for name, messages in errors.items():
        target = _field(form, aliases.get(name, name))
        if target is None:
            leftover.extend(messages)
            continue
        if not isinstance(target.errors, list):
            target.errors = list(target.errors or [])
        target.errors.extend(messages)
    return leftover


def _field(form: Any, dotted: str) -> Any:
    node = form
    for part in dotted.split("."):
        if part.isdigit():
            try:
                node = node[int(part)]
            except (IndexError, TypeError, KeyError):
                return None
            continue
        if hasattr(node, "form"):  # a FormField row
            node = node.form
        try:
            node = node[part]
        except (KeyError, TypeError):
            return None
    return node if hasattr(node, "errors") and not isinstance(node, Form) else None
