"""The ``tarmac`` command line: thin commands over the HTTP API (and the server itself)."""
