"""Airflow integration (the ``tarmac[airflow]`` extra): a versioned Airflow 3 DAG bundle.

``tarmac.airflow.bundle.TarmacDagBundle`` is what ``[dag_processor]
dag_bundle_config_list`` names. Airflow is imported only by that module, never by
importing ``tarmac`` or this package.
"""
