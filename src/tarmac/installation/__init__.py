"""The installation: flags from ``values.yaml`` that switch features on for every Deployment."""
