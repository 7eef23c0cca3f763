"""Aggregation, figures and the markdown report of a study."""
