"""Deploys: the immutable history of a Deployment's code, and making code live."""
