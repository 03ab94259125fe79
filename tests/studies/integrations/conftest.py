from .doubles import mturk_stub, transport  # noqa: F401  (fixtures)
