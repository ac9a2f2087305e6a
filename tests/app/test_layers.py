"""The layers as a test: every import arrow inside hub/ is one README's code map allows.

The import graph is read with :mod:`ast` (module-level and function-level imports
alike, so a lazy import is no way round a rule). Each module belongs to one area
(``AREAS``, longest prefix wins); an area may import itself and the areas ``MAY_IMPORT``
names, nothing else. The table is README's "Code map" table: change both together.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub"

#: Modules every layer may use: they import nothing of the hub above them.
BASE = "base"

#: Module (or package) -> area. The longest matching prefix decides.
AREAS: dict[str, str] = {
    "hub": "factory",  # hub/__init__.py: create_app wires everything
    "hub.errors": BASE,
    "hub.text": BASE,
    "hub.config": BASE,
    "hub.extensions": BASE,
    "hub.database": BASE,
    "hub.reference": BASE,
    "hub.i18n": BASE,
    "hub.i18n_library": BASE,
    "hub.i18n_check": BASE,
    "hub.logging": BASE,
    "hub.downloads": "http",
    "hub.crypto": "crypto",
    "hub.models": "models",
    "hub.app_keyring": "app_keyring",
    "hub.auth": "auth",
    "hub.audit": "audit",
    "hub.compliance": "compliance",
    "hub.operations": "operations",
    "hub.security": "security",
    "hub.health": "health",
    "hub.backup": "backup",
    "hub.caches": "caches",
    "hub.web": "web",
    "hub.api": "api",
    "hub.cli": "cli",
    "hub.migrations": "migrations",
}

_BELOW_OPERATIONS = {BASE, "crypto", "models", "app_keyring", "auth", "audit", "compliance"}
_FACE = _BELOW_OPERATIONS | {"operations", "security", "http"}

#: Area -> the other areas it may import. Its own area is always allowed.
MAY_IMPORT: dict[str, set[str]] = {
    BASE: set(),
    "crypto": set(),  # primitives and formats: nothing of the hub, not even the base
    "models": {BASE},
    "app_keyring": {BASE, "crypto", "models"},
    "auth": {BASE, "models"},
    "audit": {BASE, "crypto", "models", "app_keyring"},
    "compliance": {BASE, "models", "audit"},
    "operations": _BELOW_OPERATIONS,
    "http": {BASE},  # what the faces share to answer HTTP (downloads)
    "security": {BASE, "models", "auth", "operations"},
    "health": {BASE, "app_keyring", "security", "operations"},  # ends a failed transaction
    "backup": {BASE, "crypto", "models", "audit", "app_keyring"},
    "caches": {BASE, "crypto", "app_keyring", "audit", "compliance", "operations"},  # lists them
    "web": _FACE,
    "api": _FACE | {"web"},  # the pages' translated status messages
    "cli": _FACE | {"factory", "backup", "api"},  # create_app; hub backup; hub openapi
    "migrations": {BASE, "models"},
    "factory": set(AREAS.values()),
}

#: Arrows still to remove: (module, area it imports) -> why it is still there.
#: Each must still exist (a stale line fails too), so the list only shrinks.
PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Arrow:
    path: Path
    line: int
    source: str
    target: str

    def __str__(self) -> str:
        return (
            f"{self.path.relative_to(ROOT)}:{self.line}: {self.source} ({area_of(self.source)}) "
            f"-> {self.target} ({area_of(self.target)})"
        )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def area_of(module: str) -> str:
    """The area of ``module``: its longest prefix in AREAS ("hub" alone only for itself,
    so a new top-level module must be given its area)."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        area = AREAS.get(".".join(parts[:n]))
        if area is not None:
            return area
    if module == "hub":
        return AREAS["hub"]
    raise KeyError(module)


def _modules() -> list[Path]:
    """Every module of hub/ but the migration revisions (they import alembic only)."""
    versions = HUB / "migrations" / "versions"
    return sorted(p for p in HUB.rglob("*.py") if versions not in p.parents)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def arrows(path: Path, text: str | None = None) -> list[Arrow]:
    """Every hub module ``path`` imports (its ``text``: the file's own by default),
    with the line of the import."""
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    text = path.read_text(encoding="utf-8") if text is None else text
    found = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # ``from hub import audit`` imports the module hub.audit, not the package hub.
            subs = [f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}")]
            targets = subs if len(subs) == len(node.names) else [module, *subs]
        else:
            continue
        found += [Arrow(path, node.lineno, source, t) for t in targets if t.split(".")[0] == "hub"]
    return found


def _graph() -> list[Arrow]:
    return [a for p in _modules() for a in arrows(p)]


def test_every_module_has_an_area():
    missing = [m for m in map(module_name, _modules()) if _area_or_none(m) is None]
    assert not missing, f"modules with no area in AREAS (and README's code map): {missing}"


def _area_or_none(module: str) -> str | None:
    try:
        return area_of(module)
    except KeyError:
        return None


def test_imports_follow_the_code_map():
    broken = []
    seen_pending = set()
    for arrow in _graph():
        source, target = area_of(arrow.source), area_of(arrow.target)
        if target == source or target in MAY_IMPORT[source]:
            continue
        if (arrow.source, target) in PENDING:
            seen_pending.add((arrow.source, target))
            continue
        broken.append(f"{arrow}: {source} may not import {target}")
    assert not broken, "arrows the code map forbids:\n" + "\n".join(broken)
    stale = set(PENDING) - seen_pending
    assert not stale, f"PENDING arrows that no longer exist (remove them): {sorted(stale)}"


def test_no_private_names_across_areas():
    """``from hub.x import _name`` only from a module of the same area: a name
    another area needs gets a public home. (``_`` is gettext, not private.)"""
    broken = []
    for path in _modules():
        source = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not node.module.startswith("hub") or area_of(node.module) == area_of(source):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and alias.name != "_":
                    broken.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: {source} -> "
                        f"{node.module}.{alias.name} (private)"
                    )
    assert not broken, "private names imported across areas:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("source", "text", "target"),
    [
        ("hub/crypto/sealing.py", "from hub.models import Exchange", "hub.models"),
        (
            "hub/audit/log.py",
            "def f():\n    from hub.operations.actor import A",
            "hub.operations.actor",
        ),
        ("hub/audit/log.py", "from hub import operations", "hub.operations"),
        ("hub/models/case.py", "from ..operations import cases", "hub.operations.cases"),
        ("hub/crypto/keyring.py", "import hub.text", "hub.text"),
    ],
)
def test_the_walk_sees_every_kind_of_import(source, text, target):
    """The rule is only as good as the walk: module-level, lazy, relative and plain imports
    are all seen, and each of these is an arrow the table forbids."""
    path = ROOT / source
    assert target in [a.target for a in arrows(path, text)]
    source_area, target_area = area_of(module_name(path)), area_of(target)
    assert target_area not in MAY_IMPORT[source_area] | {source_area}


#: Where a transaction may end: the unit of work, the migrations, backup/restore.
TRANSACTION_OWNERS = ("hub/operations/unit.py", "hub/migrations/", "hub/backup.py")
#: hub/audit/verify.py ends the read snapshot of its own raw DBAPI connection (it
#: writes nothing); every other transaction ends in hub/operations/unit.py.
PENDING_COMMITS = ("hub/audit/verify.py",)


def test_no_commit_or_rollback_outside_the_unit_of_work():
    broken = []
    for path in _modules():
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(TRANSACTION_OWNERS) or name in PENDING_COMMITS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                broken.append(f"{name}:{node.lineno}: .{node.func.attr}() outside the unit of work")
    assert not broken, "transactions ended outside hub/operations/unit.py:\n" + "\n".join(broken)


#: What hub/crypto may not import even from outside the hub: it holds primitives and
#: formats only (no database, no Flask, no request), so the core reads on its own.
FRAMEWORKS = ("flask", "flask_babel", "flask_sqlalchemy", "flask_wtf", "sqlalchemy", "werkzeug")


def test_crypto_imports_no_framework():
    broken = []
    for path in sorted((HUB / "crypto").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            broken += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in FRAMEWORKS
            ]
    assert not broken, "hub/crypto imports a framework:\n" + "\n".join(broken)
