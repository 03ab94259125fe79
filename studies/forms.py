"""The participant pages' forms: plain HTML inputs, validated on the server only.

Rows are named by their shown position (1-5), never by concept, so the form says
nothing about which row is right.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms

from .defaults import LIKERT_LABELS

N_ROWS = 5
DESCRIPTION_MAX_CHARS = 40
DESCRIPTION_MAX_WORDS = 2
QUALITY_MAX = 10_000
# Letters (any script), digits, and the joiners words use: "tail-fin", "bird's", "O'Neil".
_WORD = re.compile(r"^[^\W_]+(?:['’\-][^\W_]+)*$")


class ConsentForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("agree", "I agree"), ("decline", "I do not agree")],
        error_messages={"required": "Choose whether you agree to take part."},
    )


class ContinueForm(forms.Form):
    """A page with nothing to answer: the submit button moves on."""


class QualityFields(forms.Form):
    """Counts the page's script adds (focus losses, pastes); 0 without JavaScript."""

    focus_losses = forms.IntegerField(min_value=0, max_value=QUALITY_MAX, required=False)
    pastes = forms.IntegerField(min_value=0, max_value=QUALITY_MAX, required=False)


class ChoiceForm(QualityFields):
    choice = forms.TypedChoiceField(
        coerce=int,
        choices=[(str(n), f"Row {n}") for n in range(1, N_ROWS + 1)],
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose the row that matches the highlighted region.",
            "invalid_choice": "Choose one of the rows 1 to 5.",
        },
    )


def clean_description(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise forms.ValidationError("Describe this row in one or two words.")
    if "\ufffd" in text or any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise forms.ValidationError("Use ordinary letters: the text has characters we cannot read.")
    if len(text) > DESCRIPTION_MAX_CHARS:
        raise forms.ValidationError(f"Use at most {DESCRIPTION_MAX_CHARS} characters.")
    words = text.split(" ")
    if len(words) > DESCRIPTION_MAX_WORDS:
        raise forms.ValidationError("Use one or two words.")
    if not all(_WORD.match(word) for word in words):
        raise forms.ValidationError("Use letters and digits only (a hyphen or apostrophe is fine).")
    return text


class DescriptionsForm(QualityFields):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for n in range(1, N_ROWS + 1):
            self.fields[f"row{n}"] = forms.CharField(
                label=f"Row {n}",
                max_length=DESCRIPTION_MAX_CHARS * 4,  # the real limit is checked after trimming
                strip=False,
                error_messages={"required": "Describe this row in one or two words."},
                widget=forms.TextInput(
                    attrs={"maxlength": DESCRIPTION_MAX_CHARS, "autocomplete": "off"}
                ),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for n in range(1, N_ROWS + 1):
            name = f"row{n}"
            if name in cleaned:
                try:
                    cleaned[name] = clean_description(cleaned[name])
                except forms.ValidationError as error:
                    self.add_error(name, error)
        return cleaned


class QuestionnaireForm(forms.Form):
    def __init__(self, *args: Any, items: list[dict], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in items:
            self.fields[item["key"]] = forms.TypedChoiceField(
                label=item["text"],
                coerce=int,
                choices=[(str(value), label) for value, label in enumerate(LIKERT_LABELS, 1)],
                widget=forms.RadioSelect,
                error_messages={"required": "Choose one answer."},
            )


class DemographicsForm(forms.Form):
    def __init__(self, *args: Any, items: list[dict], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in items:
            required = bool(item.get("required", False))
            if item["kind"] == "integer":
                field = forms.IntegerField(
                    label=item["text"],
                    required=required,
                    min_value=item.get("min"),
                    max_value=item.get("max"),
                )
            elif item["kind"] == "choice":
                field = forms.ChoiceField(
                    label=item["text"],
                    required=required,
                    choices=[("", "—")] + [(c, c) for c in item["choices"]],
                )
            else:
                field = forms.CharField(label=item["text"], required=required, max_length=100)
            self.fields[item["key"]] = field

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            if not isinstance(value, str):
                continue
            if "\ufffd" in value or any(unicodedata.category(ch) == "Cc" for ch in value):
                self.add_error(
                    name, "Use ordinary letters: the text has characters we cannot read."
                )
            elif "<" in value or ">" in value:
                self.add_error(name, "Leave out < and >.")
        return cleaned
