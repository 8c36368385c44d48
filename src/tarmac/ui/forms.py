"""Reading HTML form fields and wording validation problems for people."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import FormData


def text_field(form: FormData, name: str) -> str:
    """A text field's value ('' when missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def text_fields(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkbox groups)."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


def validation_message(exc: ValidationError) -> str:
    """``field: problem`` for the first problem, as the API's invalid_request says it."""
    errors = exc.errors()
    if not errors:
        return "The form is not valid."
    first = errors[0]
    field = ".".join(str(p) for p in first.get("loc", ()))
    return f"{field or 'form'}: {first.get('msg', 'invalid')}"
