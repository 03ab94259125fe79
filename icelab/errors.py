"""One service-error type for the Django side, and one way to turn it into a message.

Services raise :class:`ServiceError` (or Django's ``ValidationError``, which forms and
``full_clean`` raise) with a message that names the input and the fix. Views, admin
actions, commands and jobs turn either into text with :func:`error_message`, so the
wording a researcher sees is the same wherever the service was called from.
The framework-free cores raise ``ValueError``/``TypeError`` and never import this.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ServiceError(ValidationError):
    """A service refused its input. Subclasses ``ValidationError`` so forms show it as one."""


def error_message(error: BaseException) -> str:
    """The text of ``error``: a validation error's messages joined by "; ", else "Type: text".

    A validation error speaks to the user as it is; any other error keeps its type, since
    "KeyError: 'x'" says more than "'x'".
    """
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
