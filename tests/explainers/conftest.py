"""The explainers tests use the shared fixtures of tests/conftest.py; ``write_imagefolder`` is
re-exported here for the tests that import it from this module."""

from tests.conftest import write_imagefolder  # noqa: F401
