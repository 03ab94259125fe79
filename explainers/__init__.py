"""Django app: datasets, classifiers, explainers, concepts, stimulus sets. The framework-free core is `explainers.ice`."""
