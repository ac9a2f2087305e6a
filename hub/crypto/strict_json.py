"""The one JSON parser for input from outside: API bodies, sealed packages and their contents.

Stricter than ``json.loads`` where parsers disagree or a document can hurt us:

- a key given twice in one object is refused (parsers differ on which copy wins,
  so what we check would not be what another implementation sees);
- ``NaN``, ``Infinity`` and ``-Infinity`` are refused (not JSON);
- nesting deeper than `MAX_DEPTH` is refused, so nothing later (validation,
  re-encoding, sealing) recurses toward Python's limit: 100,000 ``[`` or 5,000
  nested objects are a refusal, not a RecursionError;
- optionally, fractional numbers are refused (the package format has none).

Pure standard library: the crypto core and the faces both use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

#: Deepest nesting of arrays and objects accepted anywhere (the deepest legitimate
#: document, a package, nests 5 levels; structured fields have their own, lower, limit).
MAX_DEPTH: Final = 64


class JSONRefused(ValueError):
    """The text is not JSON we accept; `reason` is one of the codes below, `detail` says more.

    Codes: ``syntax`` (not JSON, or not UTF-8), ``duplicate_key``, ``constant``
    (NaN / Infinity), ``fraction`` (a fractional number where none is allowed),
    ``too_deep``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JSONRefused("duplicate_key", f"duplicate field {key!r}")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise JSONRefused("constant", f"{name} is not allowed")


def _fraction(text: str) -> Any:
    raise JSONRefused("fraction", "a fractional number is not allowed")


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        node, level = todo.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        todo.extend((child, level) for child in children if isinstance(child, dict | list))
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, fractions: bool = True) -> Any:
    """Parse `text` strictly (see the module's rules) or raise JSONRefused."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant,
            parse_float=None if fractions else _fraction,
        )
    except JSONRefused:
        raise
    except RecursionError:
        raise JSONRefused("too_deep", f"nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise JSONRefused("syntax", f"not JSON: {exc}") from None
    if depth(value) > max_depth:
        raise JSONRefused("too_deep", f"nested deeper than {max_depth} levels")
    return value
