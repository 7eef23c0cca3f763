"""Tracking: MLflow runs and tags, byte-stable output files, the MLflow UI over the store."""
