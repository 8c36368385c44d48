"""Rollbacks: the policy that decides whether and how a Deployment may roll back."""
