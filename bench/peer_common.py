"""Trees, results and checks shared by bench/peers.py and its object-store peer."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

FILE_BYTES = 4000
Tree = dict[str, bytes]


def trees(files: int) -> tuple[Tree, Tree]:
    """Version A and version B, which changes 10 % of A's files (same sizes)."""
    rng = random.Random(files)
    a = {f"dags/team_{i % 25:02d}/dag_{i:05d}.py": rng.randbytes(FILE_BYTES) for i in range(files)}
    b = dict(a)
    for path in sorted(a)[::10]:
        b[path] = rng.randbytes(FILE_BYTES)
    return a, b


def folder_matches(folder: Path, expected: Tree) -> bool:
    found = {}
    for root, _dirs, names in os.walk(folder, followlinks=True):
        for name in names:
            if name.startswith(".git"):
                continue
            path = Path(root, name)
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found == expected


def write_tree(root: Path, tree: Tree) -> None:
    for path, data in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


@dataclass
class Result:
    name: str
    files: int
    seconds: list[float] = field(default_factory=list)
    bytes_moved: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    """Files whose bytes were wrong when the peer said it was done."""


def check(result: Result, folder: Path, expected: Tree, stale: int | None = None) -> None:
    if stale is None:
        stale = 0 if folder_matches(folder, expected) else -1
    if stale == -1:
        raise AssertionError(f"{result.name}: the folder does not hold the target's bytes")
    result.stale.append(stale)
