"""tarmac: deploy-and-rollback control plane for Apache Airflow."""

__version__ = "0.1.0"
