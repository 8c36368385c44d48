"""The import gate: a deploy's DAG files parsed by the target runtime's own Airflow."""
