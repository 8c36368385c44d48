"""The HTTP API: thin FastAPI routes over the service functions."""
