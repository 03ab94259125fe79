"""Framework-free statistics for ICE Lab studies (numpy, scipy, statsmodels, gensim; never Django)."""

__all__: list[str] = []
