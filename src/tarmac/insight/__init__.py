"""Insight into the deploy history: a diff between any two deploys, and DORA metrics."""
