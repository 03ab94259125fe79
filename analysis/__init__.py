"""Django app: scoring, reports and exports. The framework-free statistics are `analysis.stats`."""
