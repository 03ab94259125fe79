"""What the explainers management commands share: a progress bar and argument lookups."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from tqdm import tqdm

from ..models import Reducer, Scenario
from ..services.progress import Progress


@contextmanager
def progress_bar(*, enabled: bool = True) -> Iterator[Progress]:
    """A tqdm bar on stderr fed by a service's ``progress(fraction, step)``."""
    bar = tqdm(
        total=100,
        unit="%",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
    )

    def update(fraction: float, step: str) -> None:
        bar.n = round(100 * fraction, 1)
        bar.set_description_str(step[:70], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn a service's ValidationError into a CommandError with the same message."""
    try:
        yield
    except ValidationError as error:
        raise CommandError("; ".join(error.messages)) from error


def scenario_arg(value: str) -> Scenario:
    """A scenario by id or by name."""
    scenario = Scenario.objects.filter(pk=int(value)).first() if value.isdigit() else None
    scenario = scenario or Scenario.objects.filter(name=value).first()
    if scenario is None:
        names = ", ".join(f"{s.pk}: {s.name}" for s in Scenario.objects.all()[:10]) or "none yet"
        raise CommandError(f"no scenario {value!r}; existing scenarios: {names}.")
    return scenario


def reducers_arg(values: list[str] | None) -> list[str]:
    reducers = [
        v.strip().lower()
        for value in (values or Reducer.values)
        for v in value.split(",")
        if v.strip()
    ]
    unknown = [r for r in reducers if r not in Reducer.values]
    if unknown:
        raise CommandError(f"unknown reducer(s) {unknown}; use {', '.join(Reducer.values)}.")
    return list(dict.fromkeys(reducers))


def int_list_arg(value: str, *, name: str) -> list[int]:
    """Comma-separated integers; at least one."""
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if not numbers:
        raise CommandError(f"{name}={value!r} must be comma-separated integers, e.g. 5,10,15.")
    return numbers
