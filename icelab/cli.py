"""What every app's management commands share: a progress bar, error conversion, list arguments."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from tqdm import tqdm

from icelab.errors import error_message
from jobs.progress import Progress


@contextmanager
def progress_bar(*, enabled: bool = True) -> Iterator[Progress]:
    """A tqdm bar on stderr fed by a service's ``progress(fraction, step)``.

    The bar appears at the first report, so a command refused at once prints no empty bar.
    """
    bars: list[tqdm] = []

    def update(fraction: float, step: str) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=100,
                    unit="%",
                    file=sys.stderr,
                    disable=not enabled,
                    dynamic_ncols=True,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
                )
            )
        bars[0].n = round(100 * fraction, 1)
        bars[0].set_description_str(step[:70], refresh=False)
        bars[0].refresh()

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn a service's ValidationError into a CommandError with the same message."""
    try:
        yield
    except ValidationError as error:
        raise CommandError(error_message(error)) from error


def int_list_arg(value: str, *, name: str) -> list[int]:
    """Comma-separated integers; at least one."""
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if not numbers:
        raise CommandError(f"{name}={value!r} must be comma-separated integers, e.g. 5,10,15.")
    return numbers
