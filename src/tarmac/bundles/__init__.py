"""DAG bundles: content-addressed tar.gz archives of a DAGs folder, on disk only (no database).

- ``limits``: :class:`BundleLimits`, the size and shape bounds of a bundle.
- ``manifest``: the files a bundle holds and :func:`diff_manifests` between two.
- ``manifest_cache``: parsed manifests and diffs remembered by digest (bounded LRU).
- ``tree``: a bundle's unpacked tree (dirs, file digests, links), for agent deltas.
- ``members`` / ``scan``: the member rules and the one streaming pass that applies them.
- ``validation``: :func:`inspect_bundle`, the check of an uploaded bundle.
- ``blob_store``: :class:`BlobStore` and :class:`LocalBlobStore` (stage, then commit).
- ``materialiser``: :class:`Materialiser`, unpacked bundles and atomic live symlinks.
- ``durable``: fsync, one ``syncfs`` per unpacked tree, atomic JSON, read-only removal.
- ``packing``: :func:`pack_dags_folder`, with ``.airflowignore`` (``airflowignore``).
"""
