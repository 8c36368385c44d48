"""Cleanup of deploy revisions: old deploy records, then the bundles nobody references."""
