"""Counts the uses of `typing.Any` in the project's code outside tests (issue 25).

Owns one number: how many times the name `Any` is used (not imported) in the Python files of harness/,
checkers/, workloads/, clusters/, nemeses/ and bench/, read from the syntax tree so that comments and strings do
not count. Prints the total, then the count per top-level folder and the ten files with the most. Does not judge:
the target (a quarter of the count when issue 25 was taken up: 883 -> at most 220) is in the issue.

    python3 bench/any_count.py [--files N]
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("harness", "checkers", "workloads", "clusters", "nemeses", "bench")


def any_uses(source: str) -> int:
    """The number of `Any` / `typing.Any` references in one module, imports excluded."""
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id == "Any":
            count += 1
        elif isinstance(node, ast.Attribute) and node.attr == "Any":
            count += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "Any" in node.value:
            # a string annotation ("dict[str, Any]") is a use; a docstring mentioning Any is not
            try:
                count += any_uses(node.value) if node.value.strip() and "\n" not in node.value else 0
            except SyntaxError:
                pass
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10, help="how many files to list, most first")
    args = parser.parse_args()
    per_file: Counter[str] = Counter()
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            n = any_uses(path.read_text(encoding="utf-8"))
            if n:
                per_file[str(path.relative_to(ROOT))] = n
    per_folder: Counter[str] = Counter()
    for name, n in per_file.items():
        per_folder[name.split("/", 1)[0]] += n
    print(f"Any uses outside tests: {sum(per_file.values())}")
    for folder in FOLDERS:
        print(f"  {folder:10} {per_folder[folder]}")
    for name, n in per_file.most_common(args.files):
        print(f"  {n:5}  {name}")


if __name__ == "__main__":
    main()
