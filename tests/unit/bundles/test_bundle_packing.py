"""pack_dags_folder: reproducible bytes, .airflowignore, links."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.packing import pack_dags_folder
from tarmac.bundles.validation import inspect_bundle
from tarmac.errors import InvalidBundle


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel_path, content in files.items():
        path = root / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _paths(folder: Path, tmp_path: Path, **kwargs: str) -> list[str]:
    manifest = pack_dags_folder(folder, tmp_path / "out.tar.gz", **kwargs)  # type: ignore[arg-type]
    return [entry.path for entry in manifest.entries]


def test_identical_folders_give_identical_bytes(tmp_path: Path) -> None:
    files = {"etl.py": "import airflow\n", "sub/load.py": "x = 1\n", "sql/q.sql": "select 1"}
    first = _tree(tmp_path / "one", files)
    second = _tree(tmp_path / "two", files)
    os.utime(second / "etl.py", (1_000_000, 1_000_000))
    (second / "sub").chmod(0o700)

    pack_dags_folder(first, tmp_path / "a.tar.gz")
    pack_dags_folder(second, tmp_path / "b.tar.gz")
    pack_dags_folder(first, tmp_path / "c.tar.gz")

    digests = {hashlib.sha256((tmp_path / f"{n}.tar.gz").read_bytes()).hexdigest() for n in "abc"}
    assert len(digests) == 1


def test_members_are_sorted_and_anonymous(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "dags", {"b.py": "b", "a/z.py": "z", "a.py": "a"})
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o750)
    pack_dags_folder(folder, tmp_path / "out.tar.gz")

    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert all((m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "") for m in members)
    assert {m.name: m.mode for m in members}["run.sh"] == 0o755
    assert {m.name: m.mode for m in members}["b.py"] == 0o644


def test_manifest_matches_inspection(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "dags", {"a.py": "a", "sub/b.py": "bb"})
    manifest = pack_dags_folder(folder, tmp_path / "out.tar.gz")

    assert manifest == inspect_bundle(tmp_path / "out.tar.gz", limits=BundleLimits())
    assert manifest.total_size == 3


def test_pycache_and_pyc_are_left_out(tmp_path: Path) -> None:
    folder = _tree(
        tmp_path / "dags",
        {"a.py": "", "a.pyc": "", "__pycache__/a.cpython-311.pyc": "", "sub/__pycache__/x": ""},
    )
    assert _paths(folder, tmp_path) == ["a.py"]


def test_regexp_airflowignore_at_root_and_in_subfolders(tmp_path: Path) -> None:
    folder = _tree(
        tmp_path / "dags",
        {
            ".airflowignore": "project_a\ntenant_[\\d]  # tenants\n# a comment line\n\n",
            "project_a_dag_1.py": "",
            "TESTING_project_a.py": "",
            "tenant_1.py": "",
            "tenant_1/dag_1.py": "",
            "project_a/dag_1.py": "",
            "kept.py": "",
            "team/.airflowignore": "^team/scratch\nlocal_only\n",
            "team/scratch.py": "",
            "team/keep.py": "",
            "team/local_only.py": "",
            "other/local_only.py": "",
        },
    )
    assert _paths(folder, tmp_path) == [
        ".airflowignore",
        "kept.py",
        "other/local_only.py",
        "team/.airflowignore",
        "team/keep.py",
    ]


def test_regexp_rules_match_paths_from_the_dags_root(tmp_path: Path) -> None:
    # As in Airflow, a subfolder's regexps see the path relative to the DAGs root.
    folder = _tree(tmp_path / "dags", {"team/.airflowignore": "^scratch\n", "team/scratch.py": ""})
    assert _paths(folder, tmp_path) == ["team/.airflowignore", "team/scratch.py"]


def test_glob_airflowignore(tmp_path: Path) -> None:
    folder = _tree(
        tmp_path / "dags",
        {
            ".airflowignore": "*.tmp\n!keep.tmp\n/build/\nsub/**/gen_*.py\n",
            "a.py": "",
            "x.tmp": "",
            "keep.tmp": "",
            "deep/y.tmp": "",
            "build/out.py": "",
            "deep/build/out.py": "",
            "sub/gen_1.py": "",
            "sub/a/b/gen_2.py": "",
            "sub/main.py": "",
        },
    )
    assert _paths(folder, tmp_path, syntax="glob") == [
        ".airflowignore",
        "a.py",
        "deep/build/out.py",
        "keep.tmp",
        "sub/main.py",
    ]


def test_symlinks_inside_are_kept_as_links(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "dags", {"common/util.py": "u", "team/dag.py": "d"})
    (folder / "team" / "common").symlink_to("../common")
    manifest = pack_dags_folder(folder, tmp_path / "out.tar.gz")

    assert manifest.by_path()["team/common"].size == 0
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        assert tar.getmember("team/common").linkname == "../common"


@pytest.mark.parametrize("target", ["../../outside", "/etc"])
def test_symlinks_leaving_the_folder_are_refused(tmp_path: Path, target: str) -> None:
    folder = _tree(tmp_path / "dags", {"a.py": ""})
    (folder / "sub").mkdir()
    (folder / "sub" / "escape").symlink_to(target)

    with pytest.raises(InvalidBundle) as refused:
        pack_dags_folder(folder, tmp_path / "out.tar.gz")
    assert refused.value.details["member"] == "sub/escape"
    assert not (tmp_path / "out.tar.gz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["dags"]


def test_fifo_in_the_folder_is_refused(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "dags", {"a.py": ""})
    os.mkfifo(folder / "pipe")
    with pytest.raises(InvalidBundle) as refused:
        pack_dags_folder(folder, tmp_path / "out.tar.gz")
    assert refused.value.details["member"] == "pipe"


def test_bundle_inside_the_folder_is_refused(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "dags", {"a.py": ""})
    with pytest.raises(ValueError):
        pack_dags_folder(folder, folder / "bundle.tar.gz")


def test_empty_folder_packs_an_empty_bundle(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    assert pack_dags_folder(tmp_path / "dags", tmp_path / "out.tar.gz").entries == ()
