"""The researcher's admin: datasets, classifiers, scenarios, explainers, stimulus sets.

Admin classes only collect input and call one service or submit one job
(:mod:`jobs`); long work never runs inside a request.
"""

from . import datasets, explainer_runs, stimulus_sets  # noqa: F401  (registers the ModelAdmins)
