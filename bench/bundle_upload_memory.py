"""Peak memory of accepting and unpacking a large DAG bundle: tarmac against the naive way.

tarmac streams an upload to the blob store while hashing it, inspects it in one streaming
pass and unpacks it the same way, so its peak memory should stay flat (a few MiB) as the
bundle grows. The baseline is what a typical upload handler does: read the whole body,
open it with ``tarfile.open(mode="r:gz")`` and read every member.

    .venv/bin/python bench/bundle_upload_memory.py [--size-mib 256]

Peak memory is measured with tracemalloc (Python allocations, including bytes objects).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import random
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from tarmac.bundles.blob_store import LocalBlobStore
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.materialiser import Materialiser
from tarmac.bundles.validation import inspect_bundle

FILE_MIB = 4


def make_bundle(path: Path, size_mib: int) -> None:
    """A gzip tar of incompressible files, written without holding it in memory."""
    rng = random.Random(0)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for i in range(max(1, size_mib // FILE_MIB)):
            data = rng.randbytes(FILE_MIB * 1024 * 1024)
            info = tarfile.TarInfo(f"dags/part_{i:04d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def tarmac_upload(bundle: Path, work: Path) -> None:
    limits = BundleLimits()
    store = LocalBlobStore(work / "blobs")
    with (
        bundle.open("rb") as upload,
        store.stage(upload, max_bytes=limits.max_upload_bytes) as staged,
    ):
        inspect_bundle(staged.path, limits=limits)
        store.commit(staged)
        sha = staged.sha256
    Materialiser(work / "bundles").ensure_unpacked(
        sha, open_blob=lambda: store.open(sha), limits=limits
    )


def naive_upload(bundle: Path, work: Path) -> None:
    body = bundle.read_bytes()  # what `await upload.read()` does
    hashlib.sha256(body).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        for member in tar.getmembers():
            content = tar.extractfile(member)
            if content is not None:
                hashlib.sha256(content.read()).hexdigest()
    (work / "blob").write_bytes(body)


def measure(run: Callable[[Path, Path], None], bundle: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as work:
        tracemalloc.start()
        started = time.perf_counter()
        run(bundle, Path(work))
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 1024**2, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "bundle.tar.gz"
        make_bundle(bundle, args.size_mib)
        print(f"bundle: {bundle.stat().st_size / 1024**2:.0f} MiB compressed")
        print(f"{'approach':<34} {'peak MiB':>9} {'seconds':>8}")
        for name, run in (
            ("tarmac stage+inspect+commit+unpack", tarmac_upload),
            ("naive read-all + tarfile r:gz", naive_upload),
        ):
            peak, elapsed = measure(run, bundle)
            print(f"{name:<34} {peak:>9.1f} {elapsed:>8.2f}")


if __name__ == "__main__":
    main()
