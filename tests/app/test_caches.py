"""hub/caches.py lists every cache the hub keeps, and its reset empties them.

The walk (ast, like tests/app/test_layers.py) finds what looks like a cache: a module- or
class-level name bound to an empty container (filled at run time), a function under
``functools.cache``/``lru_cache``, and a module that writes into ``app.extensions``.
Each must be listed in hub.caches or, when it is no cache, in ``NOT_CACHES`` (or
``NOT_CACHES_PER_APP``) with why.
A name listed that the walk no longer finds fails too, so the list stays true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hub import caches

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub"

#: Found by the walk but not caches: name -> why.
NOT_CACHES: dict[str, str] = {
    "hub.compliance.rules.REGISTRY": "obligation kinds, registered at import (@register)",
}
#: Modules that write app.extensions but keep no cache there: module -> why.
NOT_CACHES_PER_APP: dict[str, str] = {
    "hub.operations.unit": "the app's unit-of-work steps, registered in create_app",
    "hub.operations.outbox": "the wake-ups of the app's delivery workers",
}

_EMPTY_CALLS = {
    "dict",
    "list",
    "set",
    "defaultdict",
    "OrderedDict",
    "deque",
    "WeakKeyDictionary",
    "WeakValueDictionary",
}
_CACHE_DECORATORS = {"cache", "lru_cache"}
_EXTENSION_WRITES = {"setdefault", "update", "__setitem__"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def _is_empty_container(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set):
        return not (value.keys if isinstance(value, ast.Dict) else value.elts)
    if isinstance(value, ast.Call) and _name(value.func) in _EMPTY_CALLS:
        # dict(a=1) or list(CONSTANTS) is a constant; dict() or defaultdict(list) is filled later.
        plain = not value.keywords and (
            not value.args or _name(value.func) in {"defaultdict", "deque"}
        )
        return plain
    return False


def _bound_names(body: list[ast.stmt], prefix: str) -> list[str]:
    found = []
    for node in body:
        if isinstance(node, ast.Assign) and _is_empty_container(node.value):
            found += [f"{prefix}.{t.id}" for t in node.targets if isinstance(t, ast.Name)]
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and _is_empty_container(node.value)
        ):
            found.append(f"{prefix}.{node.target.id}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_name(d) in _CACHE_DECORATORS for d in node.decorator_list):
                found.append(f"{prefix}.{node.name}")
        elif isinstance(node, ast.ClassDef):
            found += _bound_names(node.body, f"{prefix}.{node.name}")
    return found


def _writes_extensions(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in _EXTENSION_WRITES and _name(owner) == "extensions":
                return True
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and _name(target.value) == "extensions":
                    return True
    return False


def walk(path: Path, text: str | None = None) -> tuple[list[str], bool]:
    """``(cache-like names, whether it writes app.extensions)`` of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    return _bound_names(tree.body, _module(path)), _writes_extensions(tree)


def _modules() -> list[Path]:
    migrations = HUB / "migrations"
    return sorted(p for p in HUB.rglob("*.py") if migrations not in p.parents)


def test_every_cache_is_listed():
    names, per_app = set(), set()
    for path in _modules():
        found, writes = walk(path)
        names.update(found)
        if writes:
            per_app.add(_module(path))
    listed = {c.name for c in caches.PROCESS + caches.CODE}
    assert names - listed - set(NOT_CACHES) == set(), "caches hub/caches.py does not list"
    assert listed - names == set(), "listed in hub/caches.py but not found (stale)"
    assert set(NOT_CACHES) - names == set(), "NOT_CACHES names that no longer exist"
    assert per_app == {c.module for c in caches.PER_APP} | set(NOT_CACHES_PER_APP), (
        "app.extensions writers"
    )


@pytest.mark.parametrize(
    ("text", "names", "writes"),
    [
        ("_seen: dict[str, int] = {}", ["hub.text._seen"], False),
        ("_seen = set()", ["hub.text._seen"], False),
        ("from collections import defaultdict\n_by = defaultdict(list)", ["hub.text._by"], False),
        ("import functools\n@functools.lru_cache(maxsize=8)\ndef f(): ...", ["hub.text.f"], False),
        ("from functools import cache\n@cache\ndef f(): ...", ["hub.text.f"], False),
        ("class K:\n    memo: dict = {}", ["hub.text.K.memo"], False),
        ("def f(app):\n    app.extensions.setdefault('x', {})", [], True),
        ("def f(app):\n    app.extensions['x'] = 1", [], True),
        ("LABELS = {'a': 1}\nNAMES = dict(a=1)\nT = list(LABELS)", [], False),
        ("def f(app):\n    return app.extensions.get('x')", [], False),
    ],
)
def test_the_walk_sees_each_kind(text, names, writes):
    """What the walk sees (and what it leaves: constants and reads)."""
    assert walk(HUB / "text.py", text) == (names, writes)


def test_reset_all_empties_them(app, make_user):
    """Fill each cache the real way, reset, find them empty."""
    from hub import i18n_check
    from hub.audit import store
    from hub.compliance import sql
    from hub.crypto import sealing
    from hub.operations import reference_cache

    make_user("cache.probe")  # audited and committed: a frontier, a checkpoint check
    sql.has_index(sql.COMPLIANCE_INDEX)
    assert reference_cache.agreement("QB-KM-MOU") is not None
    sealing.mlkem_available()
    i18n_check._ENGLISH["probe"] = frozenset()
    assert store._frontiers
    assert {"hub_keys", "hub_audit", "hub.reference_cache"} <= set(app.extensions)
    if app.config["HUB"].database_url.startswith("sqlite"):
        assert sql._indexes

    caches.reset_all(app)

    assert not store._frontiers
    assert not sql._indexes
    assert "hub_keys" not in app.extensions
    assert "hub.reference_cache" not in app.extensions
    assert "hub_audit" not in app.extensions
    assert "probe" in i18n_check._ENGLISH  # derived from the code: kept unless asked
    caches.reset_all(code=True)
    assert not i18n_check._ENGLISH
    assert sealing.mlkem_available.cache_info().currsize == 0
    # and everything still works, rebuilt on use
    make_user("cache.probe2")
    assert store._frontiers
    assert reference_cache.agreement("QB-KM-MOU") is not None
