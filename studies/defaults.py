"""A new study's defaults: consent and instructions text, the questionnaire, demographics.

The questionnaire follows the explanation-satisfaction scale of Hoffman, Mueller, Klein
and Litman (2018, "Metrics for Explainable AI"), worded for concept explanations, plus
a confidence item. Researchers edit all of it per study in the admin.
"""

from __future__ import annotations

DEFAULT_CONSENT = (
    "This is a research study about how people understand explanations of image "
    "classifiers. You will look at pictures, choose which explanation matches a "
    "highlighted region, describe what you see in one or two words, and answer a short "
    "questionnaire. Taking part is voluntary and you may stop at any time. We record your "
    "answers, how long they take and your platform ID (stored under a pseudonym in any "
    "export); nothing else about you."
)

DEFAULT_INSTRUCTIONS = (
    "Each task shows one picture in which a region is highlighted, and five rows of "
    "example pictures. Every row shows one concept the classifier uses. Pick the row whose "
    "concept is the one highlighted in the picture. Then describe each row's concept in one "
    "or two words. The first tasks are training: after your choice you will see the right "
    "answer. During the test tasks you can look at the training tasks again at any time."
)

LIKERT_LABELS = (
    "Strongly disagree",
    "Disagree",
    "Neither agree nor disagree",
    "Agree",
    "Strongly agree",
)

DEFAULT_QUESTIONNAIRE = [
    {"key": "confidence", "text": "I am confident that my choices were right."},
    {"key": "understand", "text": "From the explanations, I understand how the classifier works."},
    {"key": "satisfying", "text": "The explanations of how the classifier works are satisfying."},
    {"key": "detail", "text": "The explanations have sufficient detail."},
    {"key": "complete", "text": "The explanations seem complete."},
    {"key": "use", "text": "The explanations tell me how to use the classifier."},
    {"key": "useful", "text": "The explanations are useful to my goals."},
    {"key": "accuracy", "text": "The explanations show me how accurate the classifier is."},
    {
        "key": "trust",
        "text": "The explanations let me judge when I should trust and not trust the classifier.",
    },
]

DEFAULT_DEMOGRAPHICS = [
    {
        "key": "gender",
        "text": "Gender (optional, in your own words)",
        "kind": "text",
        "required": False,
    },
    {
        "key": "age",
        "text": "Age in years",
        "kind": "integer",
        "required": True,
        "min": 18,
        "max": 120,
    },
]
