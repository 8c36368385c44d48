"""Build DAG bundles (tar.gz bytes) for tests."""

from __future__ import annotations

import io
import tarfile


def make_bundle(files: dict[str, str | bytes]) -> bytes:
    """A deterministic gzip tar holding ``files`` (path → content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def dag_file(dag_id: str, *, marker: str = "") -> str:
    return (
        "from datetime import datetime\n"
        "from airflow import DAG\n"
        f"# {marker}\n"
        f"with DAG(dag_id={dag_id!r}, start_date=datetime(2024, 1, 1), schedule=None):\n"
        "    pass\n"
    )
