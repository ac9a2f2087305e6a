"""Code lines of Python files, as README's security core table counts them.

    .venv/bin/python bench/code_lines.py hub/audit/verify.py hub/audit/merkle.py ...

A code line is a line that is not blank, not only a comment, and not part of a
module's, class's or function's docstring.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def code_lines(path: Path) -> int:
    source = path.read_text(encoding="utf-8")
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def main() -> None:
    total = 0
    for name in sys.argv[1:]:
        count = code_lines(Path(name))
        total += count
        print(f"{count:6,}  {name}")
    print(f"{total:6,}  total")


if __name__ == "__main__":
    main()
