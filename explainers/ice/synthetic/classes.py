"""Class definitions: each class is a set of two to four parts from the vocabulary.

Classes share parts, so a part is a concept rather than a class label, and many
pairs differ by a single part (``car`` and ``bus`` differ only by the ladder), so a
classifier has to find the parts to tell them apart. No two classes have the same
part set. The order matters: ``n_classes=k`` takes the first k, and the first 20 (the
default) already use every part in at least two classes. Append new classes at the end
so that existing datasets keep their meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from .parts import PARTS_BY_NAME


@dataclass(frozen=True)
class ClassDefinition:
    """A class of the synthetic dataset: its folder name and the parts every image of it shows."""

    name: str
    parts: tuple[str, ...]


CLASSES: tuple[ClassDefinition, ...] = (
    ClassDefinition("car", ("wheel", "window_grid")),
    ClassDefinition("bus", ("wheel", "window_grid", "ladder")),
    ClassDefinition("fire_engine", ("wheel", "window_grid", "ladder", "cross")),
    ClassDefinition("racing_car", ("wheel", "checker")),
    ClassDefinition("house", ("roof", "window_grid")),
    ClassDefinition("chapel", ("roof", "window_grid", "cross")),
    ClassDefinition("bird", ("eye", "beak")),
    ClassDefinition("parrot", ("eye", "beak", "stripes")),
    ClassDefinition("fish", ("eye", "fin")),
    ClassDefinition("shark", ("eye", "fin", "zigzag")),
    ClassDefinition("robot", ("antenna", "checker", "zigzag")),
    ClassDefinition("alien", ("antenna", "eye", "spots")),
    ClassDefinition("snail", ("antenna", "spiral")),
    ClassDefinition("night_sky", ("crescent", "star")),
    ClassDefinition("observatory", ("crescent", "star", "roof")),
    ClassDefinition("flag", ("star", "stripes")),
    ClassDefinition("planet", ("ring", "spots")),
    ClassDefinition("target", ("ring", "arrow", "cross")),
    ClassDefinition("garden", ("flower", "heart", "spiral")),
    ClassDefinition("valentine", ("heart", "arrow", "flower")),
    # Beyond the default 20.
    ClassDefinition("storm", ("crescent", "zigzag")),
    ClassDefinition("lighthouse", ("ladder", "star", "roof")),
    ClassDefinition("bee", ("stripes", "antenna", "flower", "eye")),
    ClassDefinition("jellyfish", ("spiral", "zigzag", "ring")),
)

CLASSES_BY_NAME: dict[str, ClassDefinition] = {
    definition.name: definition for definition in CLASSES
}
DEFAULT_N_CLASSES = 20


def select_classes(n_classes: int) -> tuple[ClassDefinition, ...]:
    """Return the first ``n_classes`` class definitions.

    Raises
    ------
    TypeError
        If ``n_classes`` is not an integer.
    ValueError
        If ``n_classes`` is below 2 (nothing to classify) or above the number defined.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int):
        raise TypeError(f"n_classes={n_classes!r} must be an integer between 2 and {len(CLASSES)}.")
    if not 2 <= n_classes <= len(CLASSES):
        raise ValueError(
            f"n_classes={n_classes} is out of range; choose between 2 and {len(CLASSES)} (the classes defined)."
        )
    return CLASSES[:n_classes]


def _check_definitions() -> None:
    # Checked at import so that an edit breaking an invariant fails loudly, not in a trained model.
    seen: dict[frozenset[str], str] = {}
    for definition in CLASSES:
        unknown = [part for part in definition.parts if part not in PARTS_BY_NAME]
        if unknown or not 2 <= len(set(definition.parts)) == len(definition.parts) <= 4:
            raise RuntimeError(
                f"class {definition.name!r} must have 2-4 distinct known parts, has {definition.parts}."
            )
        key = frozenset(definition.parts)
        if key in seen:
            raise RuntimeError(
                f"classes {seen[key]!r} and {definition.name!r} have the same parts."
            )
        seen[key] = definition.name


_check_definitions()
