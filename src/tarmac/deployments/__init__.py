"""Deployments: one Airflow environment each, with its settings and members."""
