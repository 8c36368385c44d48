"""``python -m tarmac`` is the ``tarmac`` command."""

from tarmac.cli.main import app

app()
