"""Counts the uses of `typing.Any` in the project's code outside tests (issue 25).

Owns one number: how many times the name `Any` is used (not imported) in the Python files of harness/,
checkers/, workloads/, clusters/, nemeses/ and bench/, read from the syntax tree so that comments and strings do
not count. A type alias whose value mentions `Any` (`Blob = Any`, `Row: TypeAlias = dict[str, Any]`) hides it:
every use of such an alias counts too, in its module and where it is imported by name. Prints the total, then the
count per top-level folder and the files with the most. Does not judge: the target (a quarter of the count when
issue 25 was taken up: 857 -> at most 214) is in the issue.

    python3 bench/any_count.py [--files N]
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("harness", "checkers", "workloads", "clusters", "nemeses", "bench")


def _mentions_any(node: ast.AST) -> bool:
    return any_uses_tree(node) > 0


def _typing_strings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand for types: inside annotations, subscripts and alias values."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
            if node.value is not None and "TypeAlias" in ast.unparse(node.annotation):
                roots.append(node.value)
        elif isinstance(node, ast.Subscript):
            roots.append(node.slice)
    return {id(n) for r in roots for n in ast.walk(r) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def any_uses_tree(tree: ast.AST, aliases: frozenset[str] = frozenset()) -> int:
    """`Any` references under `tree` (string annotations parsed), plus uses of the names in `aliases`."""
    count = 0
    typing_strings = _typing_strings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and (node.id == "Any" or node.id in aliases) and isinstance(node.ctx, ast.Load):
            count += 1
        elif isinstance(node, ast.Attribute) and node.attr == "Any":
            count += 1
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) in typing_strings
              and "Any" in node.value):
            # a string annotation ("dict[str, Any]") is a use; a docstring or message mentioning Any is not
            try:
                count += any_uses_tree(ast.parse(node.value, mode="eval"), aliases)
            except SyntaxError:
                pass
    return count


def any_aliases(tree: ast.Module) -> set[str]:
    """Names bound at module level to a type expression that mentions Any (`X = Any`, `X: TypeAlias = ...`,
    `type X = ...`). An assignment whose value is not a type expression (a call, a literal) is not an alias."""
    names: set[str] = set()
    for stmt in tree.body:
        target, value = None, None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            if "TypeAlias" in ast.unparse(stmt.annotation):
                target, value = stmt.target.id, stmt.value
        elif type(stmt).__name__ == "TypeAlias":  # `type X = ...` (Python 3.12+; absent from 3.11's ast)
            target, value = getattr(getattr(stmt, "name", None), "id", None), getattr(stmt, "value", None)
        if target and value is not None and isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.BinOp)):
            if _mentions_any(value):
                names.add(target)
    return names


def any_uses(source: str, aliases: frozenset[str] = frozenset()) -> int:
    """The number of `Any` references in one module, imports excluded, plus uses of `aliases` (names of
    aliases of Any visible in the module)."""
    return any_uses_tree(ast.parse(source), aliases)


def visible_aliases(tree: ast.Module, module_aliases: dict[str, set[str]]) -> frozenset[str]:
    """The module's own aliases of Any and those it imports by name from the project's modules."""
    names = set(any_aliases(tree))
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.ImportFrom) and stmt.module in module_aliases:
            for a in stmt.names:
                if a.name in module_aliases[stmt.module]:
                    names.add(a.asname or a.name)
    return frozenset(names)


def _module_name(rel: str) -> str:
    name = rel[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10, help="how many files to list, most first")
    args = parser.parse_args()
    trees: dict[str, ast.Module] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            trees[str(path.relative_to(ROOT))] = ast.parse(path.read_text(encoding="utf-8"))
    module_aliases = {_module_name(rel): any_aliases(tree) for rel, tree in trees.items()}
    per_file: Counter[str] = Counter()
    alias_names: list[str] = []
    for rel, tree in trees.items():
        if module_aliases[_module_name(rel)]:
            alias_names += [f"{_module_name(rel)}.{a}" for a in sorted(module_aliases[_module_name(rel)])]
        n = any_uses_tree(tree, visible_aliases(tree, module_aliases))
        if n:
            per_file[rel] = n
    per_folder: Counter[str] = Counter()
    for name, n in per_file.items():
        per_folder[name.split("/", 1)[0]] += n
    print(f"Any uses outside tests: {sum(per_file.values())}")
    for folder in FOLDERS:
        print(f"  {folder:10} {per_folder[folder]}")
    for name, n in per_file.most_common(args.files):
        print(f"  {n:5}  {name}")
    if alias_names:
        print(f"  aliases of Any (each use counted): {', '.join(alias_names)}")


if __name__ == "__main__":
    main()
