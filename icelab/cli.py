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
    """Comma-separated integers or inclusive ranges ``start:stop[:step]``; at least one.

    ``5:50:5`` is 5, 10, …, 50 (the stop is included, as a researcher reads "5 to 50");
    ``2:4,10`` is 2, 3, 4, 10. Order is kept, duplicates dropped."""
    numbers: list[int] = []
    try:
        for part in (v.strip() for v in value.split(",")):
            if not part:
                continue
            if ":" not in part:
                numbers.append(int(part))
                continue
            bounds = [int(b) for b in part.split(":")]
            if len(bounds) not in (2, 3) or (len(bounds) == 3 and bounds[2] < 1):
                raise ValueError(part)
            start, stop, step = (*bounds, 1)[:3]
            if stop < start:
                raise ValueError(part)
            numbers.extend(range(start, stop + 1, step))
    except ValueError:
        numbers = []
    if not numbers:
        raise CommandError(
            f"{name}={value!r} must be comma-separated integers or ranges start:stop:step, "
            "e.g. 5,10,15 or 5:50:5."
        )
    return list(dict.fromkeys(numbers))
