"""Runtime versions: the catalog mapping each runtime to its Airflow version."""
