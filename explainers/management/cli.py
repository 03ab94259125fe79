"""Arguments the explainers commands share: a scenario by id or name, a list of reducers.

The progress bar and error conversion every app's commands use are in :mod:`icelab.cli`.
"""

from __future__ import annotations

from django.core.management.base import CommandError

from icelab.cli import command_errors

from ..models import Reducer, Scenario
from ..selectors import scenario_by_id_or_name


def scenario_arg(value: str) -> Scenario:
    """A scenario by id or by name."""
    with command_errors():
        return scenario_by_id_or_name(value=value)


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
