"""Signed webhooks: per Deployment or installation-wide, delivered from the event outbox."""
