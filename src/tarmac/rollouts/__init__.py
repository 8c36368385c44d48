"""Desired vs actual: what the runtime side reports it really runs, and its metadata snapshots."""
