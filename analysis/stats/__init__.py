"""Framework-free statistics for ICE Lab studies (numpy, scipy, statsmodels, gensim; never Django).

Importable from a notebook with pandas frames in the shape of :mod:`analysis.stats.frames`::

    from analysis.stats import ReportSettings, build_report, write_report
    report = build_report(responses=responses, participants=participants,
                          descriptions=descriptions, questionnaire=questionnaire)
    write_report(report, "out/")

Names are resolved lazily (PEP 562) so ``import analysis.stats`` stays cheap (gensim and
matplotlib load only when a function that needs them is used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # input schema
    "check_frame": "frames",
    "RESPONSES": "frames",
    "DESCRIPTIONS": "frames",
    "QUESTIONNAIRE": "frames",
    "PARTICIPANTS": "frames",
    "CONCEPTS": "frames",
    # scoring
    "ScoringRules": "scoring",
    "participant_scores": "scoring",
    "questionnaire_scores": "scoring",
    "accuracy_by_position": "scoring",
    # description similarity
    "load_word_vectors": "word_vectors",
    "WordVectors": "word_vectors",
    "WordVectorsUnavailable": "word_vectors",
    "tokenize": "similarity",
    "embed_texts": "similarity",
    "description_similarity": "similarity",
    "SimilarityResult": "similarity",
    # tests
    "one_way_anova": "hypothesis_tests",
    "welch_anova": "hypothesis_tests",
    "levene_test": "hypothesis_tests",
    "pairwise_ttests": "hypothesis_tests",
    "games_howell": "hypothesis_tests",
    "correct_pvalues": "hypothesis_tests",
    "AnovaResult": "hypothesis_tests",
    "random_intercept_model": "mixed_model",
    "group_mixed_model": "mixed_model",
    "MixedModelResult": "mixed_model",
    # planning
    "sample_size_per_group": "planning",
    "power_by_simulation": "planning",
    "cohens_f_from_eta_squared": "planning",
    "EffectTooSmall": "planning",
    # reports
    "build_table1": "table1",
    "Table1": "table1",
    "concept_results": "concept_results",
    "pseudonym": "pseudonyms",
    "pseudonym_map": "pseudonyms",
    "ReportSettings": "report",
    "Report": "report",
    "build_report": "report",
    "write_report": "report",
    "render_html": "report_html",
    "simulated_study": "simulated_study",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'analysis.stats' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
