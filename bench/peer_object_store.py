"""The object-store peer of bench/peers.py: ``aws s3 sync`` semantics against moto's server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.peer_common import Result, Tree, write_tree
from tests.support.process import free_port

# --- object store ----------------------------------------------------------------------


class ObjectStore:
    """A local S3-compatible server (moto) and a bucket."""

    def __init__(self) -> None:
        import boto3

        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.s3.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def listing(self, bucket: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = item
        return found


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _local(folder: Path) -> dict[str, Path]:
    return {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}


def sync_up(store: ObjectStore, folder: Path, bucket: str, *, exact: bool) -> int:
    """``aws s3 sync folder s3://bucket --delete``; returns bytes sent."""
    remote, local = store.listing(bucket), _local(folder)
    send = []
    for key, path in local.items():
        item = remote.get(key)
        info = path.stat()
        if item is None or item["Size"] != info.st_size:
            send.append(key)
        elif exact:
            if item["ETag"].strip('"') != _md5(path):
                send.append(key)
        elif info.st_mtime > item["LastModified"].timestamp():
            send.append(key)
    with ThreadPoolExecutor(10) as pool:
        list(
            pool.map(
                lambda k: store.s3.put_object(Bucket=bucket, Key=k, Body=local[k].read_bytes()),
                send,
            )
        )
        list(
            pool.map(
                lambda k: store.s3.delete_object(Bucket=bucket, Key=k), remote.keys() - local.keys()
            )
        )
    return sum(local[k].stat().st_size for k in send)


def sync_down(store: ObjectStore, bucket: str, folder: Path, *, exact: bool) -> int:
    """``aws s3 sync s3://bucket folder --delete``; returns bytes received."""
    remote, local = store.listing(bucket), _local(folder)
    fetch = []
    for key, item in remote.items():
        path = local.get(key)
        if path is None or path.stat().st_size != item["Size"]:
            fetch.append(key)
        elif exact:
            if item["ETag"].strip('"') != _md5(path):
                fetch.append(key)
        elif item["LastModified"].timestamp() > path.stat().st_mtime:
            fetch.append(key)

    def get(key: str) -> int:
        item = remote[key]
        body = store.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(body)
        stamp = item["LastModified"].timestamp()
        os.utime(tmp, (stamp, stamp))  # as the AWS CLI does
        os.replace(tmp, target)
        return len(body)

    with ThreadPoolExecutor(10) as pool:
        moved = sum(pool.map(get, fetch))
    for key in local.keys() - remote.keys():
        local[key].unlink()
    return moved


def object_store(
    scratch: Path, store: ObjectStore, files: int, a: Tree, b: Tree, runs: int, *, exact: bool
) -> Result:
    variant = "exact (MD5)" if exact else "usual (size and time)"
    result = Result(f"object store sync, {variant}", files)
    bucket = f"dags-{files}-{'exact' if exact else 'usual'}"
    store.s3.create_bucket(Bucket=bucket)
    builds = [scratch / f"build-{bucket}-a", scratch / f"build-{bucket}-b"]
    for build, tree in zip(builds, (a, b), strict=True):
        write_tree(build, tree)  # each version's build output, written once
    consumer = scratch / f"consumer-{bucket}"
    consumer.mkdir()
    sync_up(store, builds[0], bucket, exact=exact)
    time.sleep(1.1)  # S3 times have one-second resolution
    sync_up(store, builds[1], bucket, exact=exact)
    sync_down(store, bucket, consumer, exact=exact)
    live = 1
    for run in range(runs + 1):
        target = 1 - live
        time.sleep(1.1)  # keep every step in its own second, to the usual variant's benefit
        started = time.monotonic()
        moved = sync_up(store, builds[target], bucket, exact=exact)
        moved += sync_down(store, bucket, consumer, exact=exact)
        elapsed = time.monotonic() - started
        live = target
        if run == 0:
            continue
        result.seconds.append(elapsed)
        result.bytes_moved.append(moved)
        expected = (a, b)[target]
        wrong = sum(1 for k, p in _local(consumer).items() if expected.get(k) != p.read_bytes())
        result.stale.append(wrong)
    return result
