"""Checks two house rules that ruff and mypy do not (issue 25); run by .ci/run.

Owns: (1) function length: no function or method in harness/, checkers/, workloads/, clusters/, nemeses/ or
bench/ is longer than 80 lines, the linearizability search (checkers/linearizable/search.py) excepted. A
function's length runs from its `def` line to its last line (docstring included), less the lines of functions
and classes defined inside it, which are measured on their own. (2) every `# type: ignore[...]` and `# noqa: ...`
comment names its codes and says why after them (`# noqa: BLE001 - why`, `# type: ignore[code]  # why`).
Prints each offender on one line and exits 1 if there is any, 0 otherwise. Does not judge style otherwise.

    python3 tools/house_rules.py [--max-lines 80] [--longest N]
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("harness", "checkers", "workloads", "clusters", "nemeses", "bench")
# The linearizability search is one hot loop kept in one body on purpose (speed: locals, no calls per step).
EXEMPT = {"checkers/linearizable/search.py"}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

_TYPE_IGNORE = re.compile(r"type:\s*ignore(?P<codes>\[[^\]]+\])?(?P<rest>.*)")
_NOQA = re.compile(r"noqa(?P<codes>:\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)")


def _span(node: ast.AST) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1  # type: ignore[attr-defined]  # stmt nodes have both


def own_length(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of `fn` less those of the functions and classes nested in it (at any depth, counted once)."""
    nested = 0
    todo: list[ast.AST] = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, NESTED):
            nested += _span(node)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return _span(fn) - nested


def functions(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(qualified name, line, own length) of every function in `tree`, methods and nested ones included."""
    out: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, FUNCTIONS):
                out.append((prefix + child.name, child.lineno, own_length(child)))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def unexplained_suppressions(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each `type: ignore` / `noqa` without codes or without a reason after them."""
    bad: list[tuple[int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string
        for pattern in (_TYPE_IGNORE, _NOQA):
            m = pattern.search(text)
            if m is None:
                continue
            reason = m.group("rest").strip().lstrip("#-:;,").strip()
            if not m.group("codes") or len(reason) < 3:
                bad.append((tok.start[0], text.strip()))
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-lines", type=int, default=80)
    parser.add_argument("--longest", type=int, default=0, help="also list the N longest functions")
    args = parser.parse_args()
    offenders: list[str] = []
    lengths: list[tuple[int, str]] = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            source = path.read_text(encoding="utf-8")
            for name, line, n in functions(ast.parse(source)):
                lengths.append((n, f"{rel}:{line} {name}"))
                if n > args.max_lines and rel not in EXEMPT:
                    offenders.append(f"{rel}:{line}: function {name} is {n} lines (> {args.max_lines})")
            for line, comment in unexplained_suppressions(source):
                offenders.append(f"{rel}:{line}: suppression without codes or a reason: {comment}")
    for n, where in sorted(lengths, reverse=True)[: args.longest]:
        print(f"{n:5}  {where}")
    for o in offenders:
        print(o)
    print(f"house rules: {len(offenders)} offender(s)", file=sys.stderr)
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main())
