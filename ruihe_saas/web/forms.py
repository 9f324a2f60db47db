"""Showing a service's field errors on a WTForms form."""

from __future__ import annotations

from ruihe_saas.errors import DomainError


def apply_field_errors(form, error: DomainError) -> None:
    """Attach ``error.fields`` to the matching form fields (else to the form as a whole)."""
    placed = False
    for name, messages in (error.fields or {}).items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + list(
                messages if isinstance(messages, list) else [messages]
            )
            placed = True
    if not placed:
        form.form_errors.append(error.message)
