"""The sync agent: keeps a DAGs folder (a symlink) on a Deployment's live DAG bundle.

- ``client``: :class:`LiveCodeClient`, long polls the live DAGs and downloads bundles.
- ``cache``: :class:`BundleCache`, verified bundles unpacked by the shared materialiser.
- ``folder``: :class:`LiveFolder`, the symlink, its state file and the switch between bundles.
- ``stopping``: :class:`StopSignal`, a clean exit on SIGTERM/SIGINT.
- ``runner``: :func:`run_agent` (the loop, with backoff) and :func:`sync_once`.

Nothing here needs the server's dependencies (SQLAlchemy, FastAPI): only httpx and the
standard library, so the Airflow DAG bundle (``tarmac.airflow``) can reuse it.
"""
