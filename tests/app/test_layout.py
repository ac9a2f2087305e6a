"""tests/ mirrors hub/ (README's code map): a test module at the top of tests/ or a folder
without __init__.py is named here, not found later as a clash of equal basenames."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_at_the_top_of_tests():
    loose = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert not loose, f"move into the folder of the hub/ package they exercise: {loose}"


def test_every_test_folder_is_a_package():
    folders = {p.parent for p in TESTS.rglob("*.py") if "node_modules" not in p.parts}
    bare = sorted(str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").exists())
    assert not bare, f"add __init__.py (tests is a package, imports are tests.<folder>.x): {bare}"
