"""The runtime side: runs a Deployment's real Airflow on this host, on the live deploy."""
