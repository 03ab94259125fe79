"""Template helpers for the participant pages."""

from __future__ import annotations

from django import template
from django.forms import BoundField, Form

register = template.Library()


@register.filter
def bound_field(form: Form, name: str) -> BoundField | None:
    """``form[name]``, for field names built in the template (``row1`` … ``row5``)."""
    try:
        return form[name]
    except KeyError:
        return None


@register.filter
def row_field(label: int) -> str:
    return f"row{label}"
