"""Persistence: the SQLAlchemy base, engines for SQLite and PostgreSQL, the unit of work."""
