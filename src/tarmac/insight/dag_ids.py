"""DAG ids a Python file declares, found statically (``ast``), never by running it.

Known forms: ``DAG("id")`` / ``DAG(dag_id="id")`` (also ``models.DAG``, in ``with`` or
assigned), ``@dag`` on a function (its name, or ``dag_id=``). Ids built at run time
(f-strings, loops, factories) are not known and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

MAX_FILES = 500


def dag_ids_in(source: bytes) -> set[str]:
    """The DAG ids ``source`` declares with a constant id; empty if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "DAG":
            if dag_id := _dag_id_argument(node):
                found.add(dag_id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                if _name(call.func if call else decorator) != "dag":
                    continue
                explicit = _dag_id_argument(call) if call else None
                found.add(explicit or node.name)
    return found


def dag_id_changes(
    *, before: Mapping[str, bytes | None], after: Mapping[str, bytes | None]
) -> dict[str, list[str]]:
    """``{appeared, disappeared}`` between the files that left/changed and arrived/changed."""
    old = _ids(before.values())
    new = _ids(after.values())
    return {"appeared": sorted(new - old), "disappeared": sorted(old - new)}


def python_files(paths: Iterable[str]) -> list[str]:
    return [p for p in paths if p.endswith(".py")][:MAX_FILES]


def _ids(sources: Iterable[bytes | None]) -> set[str]:
    ids: set[str] = set()
    for source in sources:
        if source is not None:
            ids |= dag_ids_in(source)
    return ids


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _dag_id_argument(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "dag_id":
            return _constant(keyword.value)
    return _constant(call.args[0]) if call.args else None


def _constant(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None
