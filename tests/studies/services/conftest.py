from tests.studies.integrations.doubles import mturk_stub, transport  # noqa: F401  (fixtures)
